"""The GAN variants of the recipes' training configs build: the discriminators, the adversarial and
feature-matching terms beside the ASR loss, the decoder in its own LR group, the curriculum.

The full recipe layers conf/train_*_gan.yaml over its plain configs; the mini recipe's 25 Hz config runs the GAN
path itself (so CI exercises it)."""

from pathlib import Path

import pytest

from fcodec.train.config import load_config
from fcodec.train.run import build_codec_module
from tests.train.speech import run_overrides

REPO = Path(__file__).resolve().parents[2]
FULL = REPO / "egs/aishell_librispeech/codec1/conf"
MINI = REPO / "egs/mini_bilingual/codec1/conf"
# what run.sh --tag gan passes as --train-<rate>-config (docs/training.md, "Quality recovery")
LAYERS = {
    "aishell_librispeech/25hz": [FULL / "train_25hz.yaml", FULL / "train_25hz_gan.yaml"],
    "aishell_librispeech/12.5hz": [
        FULL / f"{name}.yaml" for name in ("train_25hz", "train_12.5hz", "train_25hz_gan", "train_12.5hz_gan")
    ],
    "mini_bilingual/25hz": [MINI / "train_25hz.yaml"],
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gan_recipe_config_builds(name, assets, tiny_whisper_path, tmp_path):
    path = LAYERS[name]
    overrides = [
        o
        for o in run_overrides(assets, **{"model.init_from": assets["codec"], "assets.whisper": tiny_whisper_path})
        if o.split("=")[0] in ("model.init_from", "assets.whisper", "assets.bpe_model")
    ]
    cfg = load_config(path, overrides)
    start, module, plan = build_codec_module(cfg, tmp_path)
    assert cfg.gan is not None and cfg.model.train_decoder and cfg.optim.lr_decoder
    assert {"asr", "adversarial", "feature_matching"} <= set(module.losses.terms)
    assert len(start.discriminators.names) == len(cfg.gan.periods) + len(cfg.gan.resolutions)
    assert set(plan.own_lr) == {"decoder"} and plan.own_lr["decoder"]
    weights = module.losses.weights
    assert weights(0)["adversarial"] == 0.0 and weights(cfg.gan.start_step)["adversarial"] > 0
    asr = module.losses.schedules["asr"]
    if asr.decay_start_step is not None:  # the curriculum: up, hold, down
        assert weights(0)["asr"] < asr.weight == weights(asr.decay_start_step)["asr"] > weights(10**9)["asr"]
