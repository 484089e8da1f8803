"""The mini recipe's training stages 4-6 end to end (the session's one run of the mini recipe, borrowed):
each stage leaves a log, TensorBoard events, checkpoints and an exported model at its frame rate and bitrate;
a rerun does nothing; a changed config retrains that stage only; a stage that died continues from its
newest checkpoint."""

import math
from pathlib import Path

import pytest

from fcodec.models import FocalCodec
from tests.data.helpers import MINI_RECIPE, run_recipe
from tests.mini_recipe_run import TEST_OPTIONS

pytestmark = pytest.mark.slow


class Recipe:
    def __init__(self, work: Path):
        self.work = work

    def run(self, *args, check=True):
        return run_recipe(
            MINI_RECIPE,
            *TEST_OPTIONS,
            "--dl-dir",
            self.work / "download",
            "--data-dir",
            self.work / "data",
            "--exp-dir",
            self.work / "exp",
            *args,
            check=check,
        )

    def mtimes(self, folder: Path):
        return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file() and "log" not in p.parts}


@pytest.fixture(scope="module")
def recipe(mini_recipe_run):
    recipe = Recipe(mini_recipe_run.borrow("4-6"))  # the session's run of the mini recipe
    recipe.first = mini_recipe_run.output["4-6"]  # ./run.sh --stage 4 --stop-stage 6
    return recipe


def test_stages_4_to_6_leave_logs_events_checkpoints_and_exported_models(recipe):
    exp = recipe.work / "exp"
    for k, (name, rate, bps) in enumerate(
        [("50hz", 50.0, 550.0), ("25hz", 25.0, 275.0), ("12.5hz", 12.5, 137.5)], start=1
    ):
        stage = exp / f"train_{name}"
        model = FocalCodec.from_pretrained(stage / "best")
        assert (model.frame_rate, model.bitrate) == (rate, bps)
        assert list((stage / "log").glob("log-train-*")) and list((stage / "tensorboard").glob("events.*"))
        assert list((stage / "checkpoints").glob("checkpoint-*.pt")) and (stage / ".train.done").is_file()
        assert (stage / "config.yaml").is_file() and (stage / "init.json").is_file()
        assert (recipe.work / "data" / "log" / f"stage{k + 3}.log").stat().st_size > 0
    # stage 5 (25 Hz) trained with the Whisper ASR loss and the CTC head, as its config asks: both terms were logged with
    # finite values, beside the codebook statistics of validation
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(exp / "train_25hz" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("train/asr", "train/ctc", "dev/asr", "dev/ctc", "dev/codebook_usage", "train/lr_new"):
        assert tag in tags, tags
        assert all(math.isfinite(event.value) for event in events.Scalars(tag)), tag


def test_a_rerun_trains_nothing(recipe):
    before = recipe.mtimes(recipe.work / "exp")
    out = recipe.run("--stage", "4", "--stop-stage", "6")
    assert out.text.count("is up to date") == 3
    assert recipe.mtimes(recipe.work / "exp") == before


def test_a_changed_config_never_deletes_the_trained_model(recipe, tmp_path):
    """Issue 12: a finished stage whose config changed is kept; the run stops and says how to proceed, and
    --force true sets the old one aside instead of deleting it. A stage that died resumes."""
    exp = recipe.work / "exp"
    config = tmp_path / "fewer_steps.yaml"  # layered over the recipe's two files: only the change
    config.write_text("train:\n  max_steps: 3\n")
    configs = f"conf/train_25hz.yaml conf/train_12.5hz.yaml {config}"
    trained_25hz, trained_12_5hz = recipe.mtimes(exp / "train_25hz"), recipe.mtimes(exp / "train_12.5hz")
    out = recipe.run("--stage", "4", "--stop-stage", "6", "--train-12.5hz-config", configs, check=False)
    assert out.returncode != 0
    assert f"{exp}/train_12.5hz was made with other options or inputs" in out.text and "--force true" in out.text
    assert recipe.mtimes(exp / "train_12.5hz") == trained_12_5hz  # the old model, checkpoints and logs are all there
    recipe.run("--stage", "6", "--stop-stage", "6", "--train-12.5hz-config", configs, "--force", "true")
    assert recipe.mtimes(exp / "train_25hz") == trained_25hz
    aside = [p for p in exp.iterdir() if p.name.startswith("train_12.5hz.old.")]
    assert len(aside) == 1 and recipe.mtimes(aside[0]) == {
        k.replace(str(exp / "train_12.5hz"), str(aside[0])): v for k, v in trained_12_5hz.items()
    }
    assert sorted(p.name for p in (exp / "train_12.5hz" / "checkpoints").iterdir()) == ["checkpoint-3.pt"]
    # a stage that died (no marker, checkpoints on disk) continues from its newest checkpoint
    (exp / "train_12.5hz" / ".train.done").unlink()
    out = recipe.run("--stage", "6", "--stop-stage", "6", "--train-12.5hz-config", configs)
    assert "continuing" in out.text and "resumed from" in out.text
