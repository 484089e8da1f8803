"""The mini recipe's stages 0-3 end to end (the session's one run of the mini recipe, whose folder the tests below
borrow and change in file order), and the real recipe's stages 0-3 pointed at that corpus on disk. Outputs go
to a temporary folder (--dl-dir / --data-dir), not into the recipe folder."""

import re
from pathlib import Path

import pytest
import sentencepiece as spm
from lhotse import CutSet

from fcodec.data.bad_input import read_report
from fcodec.data.synth.mini_corpus import BROKEN_REPORT
from tests.data.helpers import MINI_JUDGES, MINI_RECIPE, REAL_RECIPE, run_recipe
from tests.mini_recipe_run import TEST_OPTIONS

pytestmark = pytest.mark.slow


class Recipe:
    def __init__(self, work: Path):
        self.work = work
        self.dl_dir = work / "download"
        self.data_dir = work / "data"

    def run(self, *args, recipe: Path = MINI_RECIPE, data_dir: Path = None, dl_dir: Path = None, check=True):
        return run_recipe(
            recipe,
            *TEST_OPTIONS,
            "--dl-dir",
            dl_dir or self.dl_dir,
            "--data-dir",
            data_dir or self.data_dir,
            *args,
            check=check,
            timeout=600,
        )

    def snapshot(self):
        """Every output file with its modification time and size (logs excluded: they grow on every run)."""
        return {
            str(p.relative_to(self.work)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in self.work.rglob("*")
            if p.is_file() and "log" not in p.relative_to(self.work).parts
        }


def changed(before, after):
    return sorted({k for k in before.keys() | after.keys() if before.get(k) != after.get(k)})


@pytest.fixture(scope="module")
def recipe(mini_recipe_run):
    recipe = Recipe(mini_recipe_run.borrow("0-3"))
    recipe.first = mini_recipe_run.output["0-3"]  # ./run.sh --stop-stage 3
    return recipe


def test_stages_0_to_3_make_the_manifests_cuts_report_and_bpe_model(recipe):
    data = recipe.data_dir
    for corpus, parts in [
        ("aishell", ["train", "dev", "test"]),
        ("librispeech", ["train-clean-100", "dev-clean", "test-clean"]),
    ]:
        for part in parts:
            for kind in ("recordings", "supervisions"):
                assert (data / "manifests" / f"{corpus}_{kind}_{part}.jsonl.gz").is_file()
    # the counts and hours the log states are those of the files
    stated = {
        (m[0], m[1]): (int(m[2]), float(m[3]))
        for m in re.findall(r"INFO \[cuts\.py:\d+\] (\w+)\s+(zh|en)\s+(\d+)\s+([\d.]+)", recipe.first.text)
    }
    assert {split for split, _ in stated} == {"train", "dev", "test_aishell", "test_librispeech"}
    for (split, language), (utts, hours) in stated.items():
        cuts = [
            c for c in CutSet.from_file(data / "cuts" / f"{split}.jsonl.gz") if c.supervisions[0].language == language
        ]
        assert len(cuts) == utts and abs(sum(c.duration for c in cuts) / 3600 - hours) < 1e-3
    for language in ("zh", "en"):  # the mini recipe asks for 0.05 h of each language
        assert 0.045 <= stated[("train", language)][1] <= 0.05
    # the bad-input report names every file broken on purpose, with the reason
    expected = {(r.id, r.reason) for r in read_report(recipe.dl_dir / BROKEN_REPORT)}
    assert {(r.id, r.reason) for r in read_report(data / "cuts" / "bad_input.tsv")} == expected
    assert f"bad input: {len(expected)} utterances left out" in recipe.first.text  # 18, 4 of them text faults
    # a BPE model that encodes both languages of the training text
    sp = spm.SentencePieceProcessor(model_file=str(data / "lang_bpe_600" / "bpe.model"))
    texts = {
        c.supervisions[0].language: c.supervisions[0].text for c in CutSet.from_file(data / "cuts" / "train.jsonl.gz")
    }
    for text in texts.values():
        assert sp.unk_id() not in sp.encode(text) and sp.decode(sp.encode(text)) == text
    # stage 3 fetched the ASR judges of stage 8 (--asr-judges: two tiny random Whispers, weights of their own)
    whisper = data / "models" / "whisper"
    judges = [whisper / f"{name}.pt" for name in MINI_JUDGES]
    assert all(p.is_file() for p in judges) and judges[0].read_bytes() != judges[1].read_bytes()
    assert all((whisper / f".whisper_{name}.done").is_file() for name in MINI_JUDGES)
    # and the NISQA MOS judge's weights: the shared copy beside the repository (offline), else none, said once
    from fcodec.utils.assets import shared_nisqa_checkpoint

    nisqa = data / "models" / "mos" / "nisqa.tar"
    if shared_nisqa_checkpoint() is not None:
        assert nisqa.read_bytes() == shared_nisqa_checkpoint().read_bytes()
    else:
        assert not nisqa.exists() and "the NISQA judge will be missing" in (data / "log" / "stage3.log").read_text()
    for stage in range(4):
        assert (data / "log" / f"stage{stage}.log").stat().st_size > 0


def test_a_rerun_does_no_work(recipe):
    before = recipe.snapshot()
    out = recipe.run("--stop-stage", "3")
    assert changed(before, recipe.snapshot()) == []
    for line in [
        "Stage 0: the mini corpus in",
        "aishell: manifests are up to date",
        "librispeech: manifests are up to date",
        "Stage 2: ",
        "Stage 3: ",
        *(f"Stage 3: {recipe.data_dir}/models/whisper/{name}.pt is up to date" for name in MINI_JUDGES),
    ]:
        assert re.search(re.escape(line) + r".*skipped", out.text), line


def test_deleting_one_output_rebuilds_only_that(recipe):
    target = recipe.data_dir / "cuts" / "test_librispeech.jsonl.gz"
    ids = [c.id for c in CutSet.from_file(target)]
    target.unlink()
    before = recipe.snapshot()
    recipe.run("--stop-stage", "3")
    assert changed(before, recipe.snapshot()) == ["data/cuts/.cuts.done", "data/cuts/test_librispeech.jsonl.gz"]
    assert [c.id for c in CutSet.from_file(target)] == ids


def test_deleting_a_manifest_rebuilds_only_that_part(recipe):
    (recipe.data_dir / "manifests" / "librispeech_supervisions_dev-clean.jsonl.gz").unlink()
    before = recipe.snapshot()
    recipe.run("--stop-stage", "3")
    assert changed(before, recipe.snapshot()) == [
        "data/manifests/.librispeech.done",
        "data/manifests/librispeech_excluded_dev-clean.tsv",
        "data/manifests/librispeech_recordings_dev-clean.jsonl.gz",
        "data/manifests/librispeech_supervisions_dev-clean.jsonl.gz",
    ]  # the same manifests again: the cuts and the BPE model stay as they are


def test_a_stage_that_died_half_way_is_redone_cleanly(recipe):
    cuts = recipe.data_dir / "cuts"
    train_ids = [c.id for c in CutSet.from_file(cuts / "train.jsonl.gz")]
    (cuts / ".cuts.done").unlink()  # it died before it could mark itself done ...
    (cuts / "train.jsonl.gz").write_bytes(b"half a file")  # ... leaving garbage behind
    (cuts / "leftover.jsonl.gz").write_bytes(b"from an older run")
    out = recipe.run("--stage", "2", "--stop-stage", "2")
    assert "from scratch" in out.text
    assert not (cuts / "leftover.jsonl.gz").exists()
    # never deleted: what was there is set aside, beside the new folder
    aside = [p for p in recipe.data_dir.iterdir() if p.name.startswith("cuts.old.")]
    assert len(aside) == 1 and (aside[0] / "leftover.jsonl.gz").read_bytes() == b"from an older run"
    assert [c.id for c in CutSet.from_file(cuts / "train.jsonl.gz")] == train_ids


def test_new_options_redo_the_stage_and_the_stages_that_use_it(recipe):
    before = recipe.snapshot()
    out = recipe.run("--stop-stage", "3", "--hours", "zh=0.03 en=0.05")
    stale = changed(before, recipe.snapshot())
    assert "data/cuts/train.jsonl.gz" in stale and "data/lang_bpe_600/bpe.model" in stale
    assert not [f for f in stale if f.startswith(("download/", "data/manifests/"))]
    assert "was made with other options or inputs; redoing" in out.text
    zh = [
        c for c in CutSet.from_file(recipe.data_dir / "cuts" / "train.jsonl.gz") if c.supervisions[0].language == "zh"
    ]
    assert 0.025 <= sum(c.duration for c in zh) / 3600 <= 0.03


def test_force_redoes_a_finished_stage(recipe):
    model = recipe.data_dir / "lang_bpe_600" / "bpe.model"
    before = model.stat().st_mtime_ns
    recipe.run("--stage", "3", "--stop-stage", "3", "--hours", "zh=0.03 en=0.05", "--force", "true")
    assert model.stat().st_mtime_ns != before


def test_a_missing_corpus_stops_with_what_was_expected_where(recipe, tmp_path):
    out = recipe.run(
        "--stage", "1", "--stop-stage", "1", dl_dir=tmp_path / "empty", data_dir=tmp_path / "data", check=False
    )
    assert out.returncode != 0
    assert f"AISHELL-1 folder {tmp_path / 'empty' / 'aishell'} does not exist" in out.text
    assert "data_aishell/transcript/aishell_transcript_v0.8.txt" in out.text


def test_the_real_recipe_runs_on_corpora_already_on_disk(recipe):
    data = recipe.work / "real_data"
    out = recipe.run(
        "--stop-stage",
        "3",
        "--aishell-dir",
        str(recipe.dl_dir / "aishell"),
        "--librispeech-dir",
        str(recipe.dl_dir / "LibriSpeech"),
        "--hours",
        "zh=all en=all",
        "--bpe-vocab-size",
        "600",
        "--nj",
        "2",
        # the published codec, Whisper small and the judges (small, large-v3) cannot be fetched
        # offline: the tiny stand-ins
        "--pretrained-codec",
        "tiny",
        "--whisper-model",
        "tiny-random",
        "--asr-judges",
        "tiny-random",
        recipe=REAL_RECIPE,
        data_dir=data,
        dl_dir=recipe.work / "no_downloads",
    )
    assert "aishell: found in" in out.text and "librispeech: found in" in out.text
    assert not (recipe.work / "no_downloads").exists()
    expected = {(r.id, r.reason) for r in read_report(recipe.dl_dir / BROKEN_REPORT)}
    assert {(r.id, r.reason) for r in read_report(data / "cuts" / "bad_input.tsv")} == expected
    mini_sources = recipe.data_dir / "cuts" / "sources"
    for name in ("aishell_train", "librispeech_train-clean-100"):  # the same good utterances
        assert [c.id for c in CutSet.from_file(data / "cuts" / "sources" / f"{name}.jsonl.gz")] == [
            c.id for c in CutSet.from_file(mini_sources / f"{name}.jsonl.gz")
        ]
    assert (data / "lang_bpe_600" / "bpe.model").is_file()


def test_the_real_recipe_refuses_a_corpus_folder_with_the_wrong_layout(recipe, tmp_path):
    out = recipe.run(
        "--stage",
        "0",
        "--stop-stage",
        "0",
        "--aishell-dir",
        str(recipe.dl_dir),
        recipe=REAL_RECIPE,
        data_dir=tmp_path / "data",
        dl_dir=tmp_path / "dl",
        check=False,
    )
    assert out.returncode != 0
    assert (
        f"AISHELL-1 transcript {recipe.dl_dir}/data_aishell/transcript/aishell_transcript_v0.8.txt is missing"
        in out.text
    )
    assert "Point --aishell-dir at the folder that holds data_aishell/" in out.text
    assert not (tmp_path / "dl").exists()  # a folder the user named is never downloaded into


def test_the_real_recipe_judges_with_small_and_large_v3_and_refuses_judges_sharing_a_folder(recipe, tmp_path):
    out = recipe.run("--help", recipe=REAL_RECIPE)
    assert re.search(r'--asr-judges "small large-v3"\s', out.text)
    out = recipe.run(
        "--stage",
        "8",
        "--asr-judges",
        f"small {tmp_path}/small.pt",
        recipe=REAL_RECIPE,
        data_dir=tmp_path / "data",
        check=False,
    )
    assert out.returncode == 1 and "would both score into score/small/" in out.text
    assert not (tmp_path / "data").exists()
