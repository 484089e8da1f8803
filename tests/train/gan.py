"""Overrides for tiny GAN training runs in the tests (the discriminators' size knob at its smallest useful setting)."""

TINY_GAN = {
    "gan.periods": "[2,3,5]",
    "gan.period_channels": 4,
    "gan.period_max_channels": 16,
    "gan.resolutions": "[[512,120,512],[1024,240,1024]]",
    "gan.resolution_channels": 4,
    "gan.lr": 1e-3,
    "losses.adversarial.weight": 1.0,
    "losses.feature_matching.weight": 6.0,
}
