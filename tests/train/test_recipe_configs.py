"""Every training config of every recipe builds: the YAML fits the schema, and the model, the losses and the
parameter plan it describes can be constructed (with the tiny codec, a tiny Whisper and a test BPE model in
place of the real assets), as ESPnet checks its configs with a dry run."""

import re
from pathlib import Path

import pytest

from fcodec.train.config import config_diff, load_config, to_dict
from fcodec.train.run import build_codec_module
from tests.train.speech import run_overrides

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(p.parent for p in REPO.glob("egs/*/codec1/run.sh"))


def driver_default_configs():
    """The driver's default training configs per rate (--train-<rate>-config): one file, or several layered."""
    text = (REPO / "egs" / "TEMPLATE" / "codec1" / "codec.sh").read_text()
    found = re.findall(r'^train_(\w+?)_config="?([^"#]*?)"?\s+#', text, re.M)
    return {rate.replace("_", "."): value.split() for rate, value in found}


STAGES = [(recipe, rate, files) for recipe in RECIPES for rate, files in driver_default_configs().items()]


def test_every_recipe_has_a_config_per_rate_and_the_driver_layers_them():
    assert [rate for _, rate, _ in STAGES[:3]] == ["50hz", "25hz", "12.5hz"]
    assert {r.parent.name for r in RECIPES} >= {"aishell_librispeech", "mini_bilingual"}
    for recipe, rate, files in STAGES:
        assert files[-1] == f"conf/train_{rate}.yaml" and all((recipe / f).is_file() for f in files)
    assert driver_default_configs()["12.5hz"] == ["conf/train_25hz.yaml", "conf/train_12.5hz.yaml"]


@pytest.mark.parametrize("recipe, rate, files", STAGES, ids=lambda x: getattr(x, "parent", x) and str(x))
def test_recipe_config_builds(recipe, rate, files, assets, tiny_whisper_path, tmp_path):
    overrides = [
        o
        for o in run_overrides(assets, **{"model.init_from": assets["codec"], "assets.whisper": tiny_whisper_path})
        if o.split("=")[0] in ("model.init_from", "assets.whisper", "assets.bpe_model")
    ]
    cfg = load_config([recipe / f for f in files], overrides)
    start, module, plan = build_codec_module(cfg, tmp_path)
    assert cfg.model.grow == (0 if rate == "50hz" else 1)
    assert start.codec.frame_rate == (50.0 if rate == "50hz" else 25.0)  # grown once from the tiny 50 Hz codec
    assert ("asr" in module.losses.terms) == (rate != "50hz")  # the ASR loss trains at 25 and 12.5 Hz
    if "asr" in module.losses.terms or "ctc" in module.losses.terms:
        assert cfg.data.segment_duration is None  # text targets need whole utterances
    assert plan.trains()


def test_the_12_5hz_config_is_the_25hz_one_and_its_changes():
    real = REPO / "egs" / "aishell_librispeech" / "codec1" / "conf"
    base = load_config(real / "train_25hz.yaml")
    layered = load_config([real / "train_25hz.yaml", real / "train_12.5hz.yaml"])
    assert layered.losses["asr"]["weight"] == 20.0 and base.losses["asr"]["weight"] == 30.0
    assert layered.model.new_only_steps == 2500 and base.model.new_only_steps == 5000
    assert layered.losses["asr"]["encoder_window"] == base.losses["asr"]["encoder_window"] == 30.0  # the rest stays
    changed = {line.split(":")[0] for line in config_diff(to_dict(base), to_dict(layered))}
    assert changed == {"losses.asr.weight", "model.new_only_steps"}
