"""The GAN variants of the recipes' training configs (conf/train_*_gan.yaml) build: the discriminators, the
adversarial and feature-matching terms beside the ASR loss, the decoder in its own LR group, the curriculum."""
from pathlib import Path

import pytest

from fcodec.train.config import load_config
from fcodec.train.run import build_codec_module
from tests.train.speech import stage_overrides

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(REPO.glob("egs/*/codec1/conf/train_*_gan.yaml"))


def test_both_recipes_have_both_gan_variants():
    for recipe in ("aishell_librispeech", "mini_bilingual"):
        assert [p.name for p in CONFIGS if p.parents[2].name == recipe] == \
            ["train_12.5hz_gan.yaml", "train_25hz_gan.yaml"], recipe


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parents[2].name}/{p.name}")
def test_gan_recipe_config_builds(path, assets, tiny_whisper_path, tmp_path):
    overrides = [o for o in stage_overrides(assets, **{"model.init_from": assets["codec"],
                                                       "assets.whisper": tiny_whisper_path})
                 if o.split("=")[0] in ("model.init_from", "assets.whisper", "assets.bpe_model")]
    cfg = load_config(path, overrides)
    stage, module, plan = build_codec_module(cfg, tmp_path)
    assert cfg.gan is not None and cfg.model.train_decoder and cfg.optim.lr_decoder
    assert {"asr", "adversarial", "feature_matching"} <= set(module.losses.terms)
    assert len(stage.discriminators.names) == len(cfg.gan.periods) + len(cfg.gan.resolutions)
    assert set(plan.own_lr) == {"decoder"} and plan.own_lr["decoder"]
    weights = module.losses.weights
    assert weights(0)["adversarial"] == 0.0 and weights(cfg.gan.start_step)["adversarial"] > 0
    asr = module.losses.schedules["asr"]
    if asr.decay_start_step is not None:  # the curriculum: up, hold, down
        assert weights(0)["asr"] < asr.weight == weights(asr.decay_start_step)["asr"] > weights(10**9)["asr"]
