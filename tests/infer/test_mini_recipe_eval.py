"""The mini recipe's stages 7 and 8 end to end (the session's one run of the mini recipe, borrowed): every
trained model (train_50hz, train_25hz, train_12.5hz) and the pretrained codec decode both test sets, each is
scored, RESULTS.md and the plot are written; a rerun does nothing; a deleted output or a decode that died half way
is completed without redoing the rest; a decode with other settings is never overwritten (--force true sets it
aside); streaming decoding gives the offline tokens. The 50 Hz model is also decoded and scored through two
post-hoc bottlenecks (egs/mini_bilingual/codec1/run.sh), rows of their own."""

import json
from pathlib import Path

import numpy as np
import pytest
from lhotse import CutSet

from fcodec.infer.tokens import load_tokens
from fcodec.layout import decode_format
from fcodec.layout.experiment import JOURNAL
from tests.data.helpers import MINI_JUDGES, MINI_RECIPE, run_recipe
from tests.mini_recipe_run import TEST_OPTIONS, TEST_UTTS

pytestmark = pytest.mark.slow

STAGES = {
    "pretrained": (50.0, 550.0),
    "train_50hz": (50.0, 550.0),
    "train_25hz": (25.0, 275.0),
    "train_12.5hz": (12.5, 137.5),
}
SETS = ("test_aishell", "test_librispeech")
# the mini recipe's post-hoc baselines: (frame rate, bitrate), the report's row name
POSTHOC = {
    "train_50hz+posthoc_50hz_keep2_275bps": ((25.0, 275.0), "**post-hoc** 50hz_keep2_275bps (train_50hz)"),
    "train_50hz+posthoc_50hz_3bit_150bps": ((50.0, 150.0), "**post-hoc** 50hz_3bit_150bps (train_50hz)"),
}
MODELS = {**STAGES, **{name: rates for name, (rates, _) in POSTHOC.items()}}
# RESULTS.md's rows: by falling bitrate, each post-hoc row after the trained model of its bitrate
ROWS = ["pretrained", "train_50hz", "train_25hz", POSTHOC["train_50hz+posthoc_50hz_keep2_275bps"][1]]
ROWS += [POSTHOC["train_50hz+posthoc_50hz_3bit_150bps"][1], "train_12.5hz"]
ROW_RATES = [(50.0, 550.0), (50.0, 550.0), (25.0, 275.0), (25.0, 275.0), (50.0, 150.0), (12.5, 137.5)]


class Recipe:
    def __init__(self, work: Path):
        self.work = work
        self.exp = work / "exp"
        self.results = work / "RESULTS.md"

    def run(self, *args, check=True):
        return run_recipe(
            MINI_RECIPE,
            *TEST_OPTIONS,
            "--dl-dir",
            self.work / "download",
            "--data-dir",
            self.work / "data",
            "--exp-dir",
            self.exp,
            "--results",
            self.results,
            *args,
            check=check,
            timeout=2400,
        )

    def snapshot(self):
        """Every output file of stages 7-8 and RESULTS.md with its modification time (logs excluded)."""
        files = [p for p in self.exp.rglob("*") if p.is_file() and ("decode" in p.parts or "score" in p.parts)]
        files += [self.results, self.work / "results.png"]
        return {str(p): p.stat().st_mtime_ns for p in files}


def tokens(decode_dir: Path):
    return {c.id: load_tokens(c) for c in CutSet.from_file(decode_dir / decode_format.TOKEN_CUTS)}


@pytest.fixture(scope="module")
def recipe(mini_recipe_run):
    recipe = Recipe(mini_recipe_run.borrow("7-8"))  # the session's run of the mini recipe
    recipe.first = mini_recipe_run.output["7-8"]  # ./run.sh --stage 7 --stop-stage 8
    return recipe


def test_every_stage_decodes_every_test_set(recipe):
    for name, (rate, bps) in MODELS.items():
        for test_set in SETS:
            directory = recipe.exp / name / "decode" / test_set
            decoded = decode_format.read_decode_dir(directory)
            test = CutSet.from_file(recipe.work / "data" / "cuts" / f"{test_set}.jsonl.gz")
            assert set(decoded.recon_cuts) == set(test.ids) and decoded.failed == {}
            assert {c.sampling_rate for c in decoded.recon_cuts.values()} == {24000}
            summary = decoded.summary
            assert (summary["frame_rate"], summary["bitrate"]) == (rate, bps)
            assert rate <= summary["tokens_per_second"] < rate * 1.05  # ceil(samples / hop) tokens per cut
            source = name.split("+")[0]
            assert summary["model"].endswith("models/codec" if source == "pretrained" else f"{source}/best")
            assert (summary.get("posthoc") or {}).get("preset") == (name.split("+posthoc_")[1] if "+" in name else None)
            assert all(len(t) > 0 for t in tokens(directory).values())
            assert (directory / ".done").is_file()
    assert (recipe.work / "data" / "log" / "stage7.log").stat().st_size > 0


def rows_of(table: str):
    return [
        [c.strip() for c in line.split("|")[1:-1]]
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]


def check_quality_table(part: str, section: str):
    """The mini recipe runs real MOS judges: DNSMOS always, NISQA where ../shared has its weights (else one line
    says it is missing): numbers for every stage and for the original audio."""
    from fcodec.utils.assets import shared_nisqa_checkpoint

    lines = [line for line in part.splitlines() if line.startswith("|")]
    headers = [c.strip() for c in lines[0].split("|")[1:-1]]
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in lines[2:])}
    assert list(rows) == [*ROWS, "original"]
    columns = ["DNSMOS OVRL", "DNSMOS SIG", "DNSMOS BAK", "DNSMOS P.808"]
    if shared_nisqa_checkpoint() is not None:
        columns += ["NISQA MOS", "NISQA noisiness", "NISQA discontinuity", "NISQA coloration", "NISQA loudness"]
    else:
        assert "MOS judge nisqa skipped" in section
    for column in columns:
        # DNSMOS's calibration maps into the 1-5 scale; NISQA's regression head is not clipped (nor is the
        # reference implementation's output), and on the tiny random codec's noise it can fall a little under 1
        low, high = (1.0, 5.0) if column.startswith("DNSMOS") else (0.0, 5.5)
        for stage, cells in rows.items():
            assert low <= float(cells[headers.index(column)]) <= high, (column, stage)
    for stage in ROWS:  # the tiny random codec's output is no voice: a similarity, not a high one
        assert -1.0 <= float(rows[stage][headers.index("speaker sim.")]) <= 1.0


def test_results_have_a_row_per_stage_and_judge_and_the_plot(recipe):
    text = recipe.results.read_text()
    assert "tiny random-weight Whisper: every number below is meaningless" in text
    for test_set, language in (("test_aishell", "zh"), ("test_librispeech", "en")):
        section = text.split(f"## {test_set} ({language})")[1].split("\n## ")[0]
        # a table per judge (in name order: neither is the paper-comparable Whisper-small), then side by side, then
        # the quality table (MOS judges, speaker similarity)
        parts = section.split("\n### ")[1:]
        assert [part.splitlines()[0] for part in parts] == [
            f"Judge `{MINI_JUDGES[0]}` (tiny random test model)",
            f"Judge `{MINI_JUDGES[1]}` (tiny random test model)",
            "Judges side by side",
            "Quality",
        ]
        check_quality_table(parts[3], section)
        tables = [rows_of(part) for part in parts]
        signal = []
        for judge, rows in zip(MINI_JUDGES, tables[:2]):
            assert [row[0] for row in rows] == ["model", *ROWS], section
            for cells, (rate, bps) in zip(rows[1:], ROW_RATES):
                assert float(cells[1]) == rate and float(cells[2]) == bps
                assert cells[-2:] == [str(TEST_UTTS), "0"]  # every test utterance scored, none failed
            signal.append([cells[7:12] for cells in rows[1:]])  # PESQ .. STFT dist
            summary = json.loads(
                (recipe.exp / "train_12.5hz" / "score" / judge / test_set / "summary.json").read_text()
            )
            assert summary["languages"][language]["num_cuts"] == TEST_UTTS and summary["asr"]["label"] == judge
            for name in MODELS:
                directory = recipe.exp / name / "score" / judge / test_set
                assert all((directory / f).is_file() for f in ("summary.json", "utterances.tsv", "failed.tsv", ".done"))
        assert signal[0] == signal[1]  # the signal metrics do not depend on the judge
        side = tables[2]
        assert side[0][-1] == f"d{'CER' if language == 'zh' else 'WER'} corpus {MINI_JUDGES[1]} / {MINI_JUDGES[0]}"
        assert [row[0] for row in side] == ["model", *ROWS]
    score_dir = recipe.exp / "train_50hz" / "score"
    # one folder per ASR judge, and the hidden cache of the reconstructions' quality (shared by the judges)
    assert sorted(p.name for p in score_dir.iterdir() if not p.name.startswith(".")) == sorted(MINI_JUDGES)
    assert any((score_dir / ".reconstructions").iterdir())
    plot = recipe.work / "results.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10000
    assert "](results.png)" in text
    assert (recipe.work / "data" / "log" / "stage8.log").stat().st_size > 0


def test_a_rerun_does_nothing(recipe):
    before = recipe.snapshot()
    out = recipe.run("--stage", "7", "--stop-stage", "8")
    # the decoder finds 6 models (2 post-hoc) x 2 sets complete; scoring finds their scores by 2 judges up to
    # date; the 2 judges' files and RESULTS.md are up to date
    assert out.text.count("): nothing to do") == 6 * 2
    assert out.text.count("is up to date") == 6 * 2 * 2 + 2 + 1
    assert "with the judges" not in out.text
    assert recipe.snapshot() == before


def test_deleted_output_and_a_dead_decode_are_completed(recipe):
    directory = recipe.exp / "train_25hz" / "decode" / "test_aishell"
    clean = tokens(directory)
    before = recipe.snapshot()
    # a deleted manifest is rebuilt from the progress journal, nothing is decoded again or rescored
    (directory / decode_format.RECON_CUTS).unlink()
    out = recipe.run("--stage", "7", "--stop-stage", "8")
    assert f"{TEST_UTTS} of {TEST_UTTS} cuts already decoded" in out.text and "with the judges" not in out.text
    # a decode that died half way (no markers, the first cut in its journal) continues with the others
    (directory / decode_format.DONE).unlink()
    (directory / decode_format.RECON_CUTS).unlink()
    lines = (directory / JOURNAL).read_text().splitlines()
    (directory / JOURNAL).write_text("\n".join(lines[:2]) + "\n")  # its header and one cut
    out = recipe.run("--stage", "7", "--stop-stage", "8")
    assert f"1 of {TEST_UTTS} cuts already decoded, continuing with the other {TEST_UTTS - 1}" in out.text
    assert "with the judges" not in out.text  # the same decode: its score stands
    after = recipe.snapshot()
    assert {k for k in before if before[k] != after.get(k)} <= {str(p) for p in directory.rglob("*")}
    resumed = tokens(directory)
    assert resumed.keys() == clean.keys() and all(np.array_equal(resumed[k], clean[k]) for k in clean)


def test_changing_the_judges_scores_only_the_new_one(recipe):
    """A judge added is fetched and scores alone; the judges kept are not scored again; a judge dropped keeps its
    files but leaves RESULTS.md; going back scores nothing and only rewrites RESULTS.md."""

    def score_files(judge):
        return {k: v for k, v in recipe.snapshot().items() if f"/score/{judge}/" in k}

    kept, dropped, new = MINI_JUDGES[0], MINI_JUDGES[1], "tiny-random-seed2"
    before = {judge: score_files(judge) for judge in MINI_JUDGES}
    out = recipe.run("--stage", "8", "--stop-stage", "8", "--asr-judges", f"{kept} {new}")
    assert out.text.count("with the judges") == 6 * 2 and out.text.count(f"with the judges {new}\n") == 6 * 2
    assert f"Stage 8: Whisper {new} -> " in out.text
    assert score_files(kept) == before[kept] and score_files(dropped) == before[dropped]
    assert len(score_files(new)) == len(before[kept])
    text = recipe.results.read_text()
    assert f"### Judge `{new}`" in text and f"### Judge `{dropped}`" not in text and f"### Judge `{kept}`" in text
    out = recipe.run("--stage", "8", "--stop-stage", "8")
    assert "with the judges" not in out.text and "Stage 8: the results table and plot of" in out.text
    assert f"### Judge `{dropped}`" in recipe.results.read_text()


def test_streaming_decoding_gives_the_offline_tokens(recipe):
    offline = {(name, s): tokens(recipe.exp / name / "decode" / s) for name in MODELS for s in SETS}
    # a decode with other settings is kept: the run stops and says how to proceed
    out = recipe.run("--stage", "7", "--stop-stage", "7", "--decode-streaming", "true", check=False)
    assert out.returncode != 0 and "rerun with --force true to set it aside" in out.text
    out = recipe.run("--stage", "7", "--stop-stage", "7", "--decode-streaming", "true", "--force", "true")
    assert out.text.count("Stage 7: decoding") == 6
    for name in MODELS:
        aside = [p for p in (recipe.exp / name).iterdir() if p.name.startswith("decode.old.")]
        assert len(aside) == 1 and (aside[0] / "test_aishell" / decode_format.RECON_CUTS).is_file()
    for (name, test_set), clean in offline.items():
        directory = recipe.exp / name / "decode" / test_set
        assert json.loads((directory / "summary.json").read_text())["streaming"] is True
        streamed = tokens(directory)
        assert streamed.keys() == clean.keys()
        assert all(np.array_equal(streamed[k], clean[k]) for k in clean), (name, test_set)


def test_nothing_to_decode_is_a_clear_error(recipe, tmp_path):
    out = recipe.run(
        "--stage",
        "7",
        "--stop-stage",
        "7",
        "--exp-dir",
        str(tmp_path / "exp"),
        "--decode-pretrained",
        "false",
        check=False,
    )
    assert out.returncode != 0 and "no model to decode" in out.text
    out = recipe.run("--stage", "8", "--stop-stage", "8", "--exp-dir", str(tmp_path / "exp"), check=False)
    assert out.returncode != 0 and "nothing to score: run stage 7 first" in out.text
