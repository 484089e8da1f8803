"""Every training config of every recipe builds: the YAML fits the schema, and the model, the losses and the
parameter plan it describes can be constructed (with the tiny codec, a tiny Whisper and a test BPE model in
place of the real assets), as ESPnet checks its configs with a dry run."""
from pathlib import Path

import pytest

from fcodec.train.config import load_config
from fcodec.train.run import build_codec_module
from tests.train.speech import stage_overrides

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(REPO.glob("egs/*/codec1/conf/stage*.yaml"))


def test_every_recipe_has_three_stage_configs():
    recipes = {p.parent.parent.name for p in REPO.glob("egs/*/codec1/conf")} - {"TEMPLATE"}
    assert recipes >= {"aishell_librispeech", "mini_bilingual"}
    for recipe in recipes:
        assert [p.name for p in CONFIGS if p.parents[2].name == recipe] == \
            ["stage1.yaml", "stage2.yaml", "stage3.yaml"], recipe


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parents[2].name}/{p.name}")
def test_recipe_config_builds(path, assets, tiny_whisper_path, tmp_path):
    overrides = [o for o in stage_overrides(assets, **{"model.init_from": assets["codec"],
                                                       "assets.whisper": tiny_whisper_path})
                 if o.split("=")[0] in ("model.init_from", "assets.whisper", "assets.bpe_model")]
    cfg = load_config(path, overrides)
    stage, module, plan = build_codec_module(cfg, tmp_path)
    stage_number = int(path.stem[-1])
    assert cfg.model.grow == (0 if stage_number == 1 else 1)
    assert stage.codec.frame_rate == (50.0 if stage_number == 1 else 25.0)
    assert ("asr" in module.losses.terms) == (stage_number > 1)  # the ASR loss trains stages 2 and 3
    if "asr" in module.losses.terms or "ctc" in module.losses.terms:
        assert cfg.data.segment_duration is None  # text targets need whole utterances
    assert plan.trains()
