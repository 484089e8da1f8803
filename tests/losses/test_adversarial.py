"""Discriminators and the adversarial / feature-matching losses: shapes, the loss kinds, a discriminator that
learns to tell speech from the same speech with noise, and where the generator's GAN gradients go."""

import pytest
import torch

from fcodec.losses.adversarial import (
    GanInputs,
    GeneratorGanLoss,
    discriminator_losses,
    feature_matching_loss,
    generator_loss,
)
from fcodec.losses.combined import GanSetup, build_losses
from fcodec.losses.resample import resample
from fcodec.models import FocalCodec
from fcodec.models.configs import tiny_causal_config
from fcodec.models.discriminators import Discriminators

TINY = dict(
    periods=[2, 3, 5, 7, 11],
    period_channels=4,
    period_max_channels=16,
    resolutions=[[512, 120, 512], [1024, 240, 1024]],
    resolution_channels=4,
)


@pytest.fixture
def one_thread():
    """Adam at this learning rate amplifies rounding differences: one thread keeps the trajectory the same
    on every machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def speech():
    """Two eSpeak NG sentences (fcodec.data.synth, as the mini recipe), 16 kHz, cropped to 1.2 s."""
    from fcodec.data.synth.mini_corpus import render
    from tests.train.speech import VOICES

    clips = [
        torch.from_numpy(render(text, VOICES[lang][0], noise_seed=i))
        for i, (lang, text) in enumerate(
            [("en", "THE OLD MAN MADE A SIGN IN THE AFFIRMATIVE"), ("zh", "今天 天气 很 好 我们 去 公园 散步 吧")]
        )
    ]
    n = 19200
    assert all(len(c) >= n for c in clips)
    return torch.stack([c[:n] for c in clips]).float()


def test_every_sub_discriminator_judges_and_returns_its_layers():
    torch.manual_seed(0)
    disc = Discriminators(**TINY)
    out = disc(torch.randn(3, 7001))  # not a multiple of any period
    assert disc.names == ["mpd2", "mpd3", "mpd5", "mpd7", "mpd11", "mrd512", "mrd1024"]
    assert len(out) == 7
    for logits, feats in out:
        assert logits.shape[0] == 3 and logits.dim() == 2 and len(feats) == 6
        assert torch.isfinite(logits).all()
    assert sum(p.numel() for p in disc.parameters()) < 40_000  # the size knob: tiny for the tests


def test_loss_kinds_on_known_logits():
    real, fake = [torch.full((2, 4), 2.0)], [torch.full((2, 4), -2.0)]
    # hinge: a discriminator past its margins has no loss; lsgan: (1-2)^2 + (-2)^2
    assert discriminator_losses(real, fake, "hinge")[0].item() == 0.0
    assert discriminator_losses(real, fake, "lsgan")[0].item() == pytest.approx(5.0)
    assert generator_loss(fake, "hinge").item() == pytest.approx(3.0)
    assert generator_loss(fake, "lsgan").item() == pytest.approx(9.0)
    feats = [[torch.ones(2, 3), torch.zeros(4)]]
    assert feature_matching_loss(feats, [[torch.zeros(2, 3), torch.zeros(4)]]).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="hinge"):
        generator_loss(fake, "wasserstein")


def test_a_discriminator_learns_to_separate_speech_from_noisy_speech(speech, one_thread):
    torch.manual_seed(0)
    disc = Discriminators(**TINY)
    inputs = GanInputs(24000, 16000)
    real = resample(speech, 16000, 24000)
    optimizer = torch.optim.AdamW(disc.parameters(), lr=1e-2, betas=(0.8, 0.99))
    losses, gaps = [], []
    for step in range(30):
        noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(step))
        noisy = real + 0.05 * real.abs().max() * noise
        fake, target, _ = inputs(noisy, speech)  # the real path of the trainer: band-limited reconstruction
        out = disc(torch.cat([target, fake]))
        r, f = [o[0][:2] for o in out], [o[0][2:] for o in out]
        loss, _ = discriminator_losses(r, f, "hinge")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        gaps.append([float(a.mean() - b.mean()) for a, b in zip(r, f)])
    # the loss falls (hinge: 2 when a discriminator cannot tell); the STFT discriminators, whose inputs show the
    # noise floor directly, score real speech clearly above noisy speech after a few steps (the period
    # discriminators start from near-zero logits: PyTorch's default init shrinks the signal layer by layer)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.1, losses
    assert min(gaps[-1][5:]) > 0.4 and max(abs(g) for g in gaps[0]) < 0.1, gaps


@pytest.mark.parametrize("decoder_trains", [True, False])
def test_gan_gradients_reach_the_decoder_only_when_it_trains(speech, decoder_trains):
    torch.manual_seed(0)
    codec = FocalCodec(**tiny_causal_config())
    disc = Discriminators(**TINY)
    losses = build_losses(
        {"adversarial": {"weight": 1.0}, "feature_matching": {"weight": 6.0}},
        sample_rate=codec.sample_rate_output,
        gan=GanSetup(disc),
    )
    for name, p in codec.named_parameters():
        p.requires_grad_(name.startswith("decompressor.") or (decoder_trains and name.startswith("decoder.")))
    out = codec.forward_train(speech, decode=True)
    total, terms = losses(out, {"audio": speech, "audio_lens": torch.full((2,), speech.shape[1])}, step=0)
    assert set(terms) == {"adversarial", "feature_matching"}
    total.backward()
    decoder = [p.grad for p in codec.decoder.parameters()]
    if decoder_trains:
        assert all(g is not None for g in decoder) and sum(float(g.abs().sum()) for g in decoder) > 0
    else:
        assert all(g is None for g in decoder)
    # the gradient goes through the decoder's input on to the decompressor either way ...
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in codec.decompressor.parameters())
    # ... and never into the discriminators' weights, which train in their own step
    assert all(p.grad is None and p.requires_grad for p in disc.parameters())


def test_gan_terms_start_at_the_gan_start_step_and_stay_out_of_the_dev_loss(speech):
    torch.manual_seed(0)
    codec = FocalCodec(**tiny_causal_config())
    losses = build_losses(
        {"mel": {"weight": 5.0}, "adversarial": {"weight": 1.0, "ramp_steps": 10}},
        sample_rate=codec.sample_rate_output,
        gan=GanSetup(Discriminators(**TINY), start_step=100),
    )
    assert losses.weights(99)["adversarial"] == 0.0 and losses.weights(105)["adversarial"] == 0.5
    assert losses.weights(110)["adversarial"] == 1.0
    assert isinstance(losses.terms["adversarial"], GeneratorGanLoss)
    batch = {"audio": speech, "audio_lens": torch.full((2,), speech.shape[1])}
    with torch.no_grad():
        out = codec.forward_train(speech)
        train_total, _ = losses(out, batch, step=200)
        losses.eval()
        dev_total, dev_terms = losses(out, batch, step=200)
    assert "adversarial" in dev_terms and dev_total == pytest.approx(5.0 * dev_terms["mel"].item())
    assert train_total.item() == pytest.approx(dev_total.item() + dev_terms["adversarial"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="gan: section"):
        build_losses({"adversarial": {"weight": 1.0}}, sample_rate=24000)
    with pytest.raises(ValueError, match="gan.loss"):
        build_losses(
            {"adversarial": {"weight": 1.0, "kind": "lsgan"}}, sample_rate=24000, gan=GanSetup(Discriminators(**TINY))
        )
