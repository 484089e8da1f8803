"""Scores to trust: a pure function of (audio, judge, options) (batching and caches change the speed, never a
number), NISQA on the audio as published, silence flagged instead of rated."""

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from fcodec.bin import score as score_cli
from fcodec.metrics.testing import make_decode_dir, make_test_cuts, speechlike
from fcodec.metrics.transcribe import WhisperJudge
from fcodec.utils.whisper import make_tiny_whisper

JUDGE = "tiny-random"


def test_a_transcript_does_not_depend_on_the_clips_it_shares_a_batch_with(tmp_path):
    # the random model always talks up to its cap: a batch-wide cap would give the short clip the long one's
    judge = WhisperJudge(make_tiny_whisper(tmp_path / "tiny.pt", n_text_ctx=48), batch_size=4, max_tokens_per_second=2)
    short, long = speechlike(1.0, 0), speechlike(6.0, 1)
    alone = judge.transcribe([short], ["en"])[0]
    assert judge.transcribe([short, long], ["en", "en"])[0] == alone
    assert judge.transcribe([long], ["en"])[0] != alone  # the cap is what differs: the test can fail


def _score(cuts_path, decode_dir, out_dir, cache_dir, whisper, *extra):
    score_cli.main(
        [
            "--ref-cuts",
            str(cuts_path),
            "--decode-dir",
            str(decode_dir),
            "--out-dir",
            str(out_dir),
            "--cache-dir",
            str(cache_dir),
            "--asr-models",
            str(whisper),
            "--batch-size",
            "2",
            "--max-tokens-per-second",
            "2",
            "--speaker-model",
            "none",
            "--nj",
            "0",
            *extra,
        ]
    )
    out = out_dir / JUDGE / "test"
    with open(out / "utterances.tsv", encoding="utf-8", newline="") as f:
        rows = {row["cut_id"]: row for row in csv.DictReader(f, delimiter="\t")}
    return rows, json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_whisper_path):
    root = tmp_path_factory.mktemp("purity")
    items = [(f"en_{i}", speechlike(s, i), "THE CAT SAT ON THE MAT", "en") for i, s in enumerate((0.8, 1.7, 2.9, 4.1))]
    cuts, cuts_path = make_test_cuts(root / "data", items)
    decode_dir = make_decode_dir(root / "decode" / "test", cuts, lambda _, audio: 0.9 * audio)
    return root, cuts_path, decode_dir


def _without_timing(rows):
    return {cut_id: {k: v for k, v in row.items() if "time" not in k} for cut_id, row in rows.items()}


def test_a_warm_transcript_cache_gives_the_scores_of_a_cold_one(experiment, tiny_whisper_path):
    root, cuts_path, decode_dir = experiment
    cold, cold_summary = _score(cuts_path, decode_dir, root / "cold", root / "cache", tiny_whisper_path, "--mos-judges")
    shutil.copytree(root / "cache", root / "warm_cache")
    warm, warm_summary = _score(
        cuts_path, decode_dir, root / "warm", root / "warm_cache", tiny_whisper_path, "--mos-judges"
    )
    assert warm_summary["asr"]["cache_hits"] == 4 and cold_summary["asr"]["cache_hits"] == 0
    assert _without_timing(warm) == _without_timing(cold)
    assert warm_summary["languages"] == cold_summary["languages"]


@pytest.mark.real_assets
def test_originals_changed_under_the_same_ids_are_scored_again(experiment, tiny_whisper_path, real_nisqa_path):
    root, cuts_path, decode_dir = experiment
    nisqa = ["--mos-judges", "nisqa", "--nisqa-model", str(real_nisqa_path)]
    _, first = _score(cuts_path, decode_dir, root / "before", root / "nisqa_cache", tiny_whisper_path, *nisqa)
    # renormalise the test set in place: same ids, same durations, other samples
    for wav in sorted((root / "data" / "wav").glob("*.wav")):
        audio, rate = sf.read(wav, dtype="float32")
        sf.write(wav, (0.05 * audio).astype(np.float32), rate, subtype="FLOAT")
    rows, after = _score(cuts_path, decode_dir, root / "after", root / "nisqa_cache", tiny_whisper_path, *nisqa)
    fresh_rows, _ = _score(cuts_path, decode_dir, root / "fresh", root / "fresh_cache", tiny_whisper_path, *nisqa)
    assert after["asr"]["cache_hits"] == 0
    assert after["mos"]["judges"]["nisqa"]["cache_hits"] == 0
    assert _without_timing(rows) == _without_timing(fresh_rows)
    orig_mos = [float(row["nisqa_mos_orig"]) for row in rows.values()]
    assert orig_mos == [float(row["nisqa_mos_orig"]) for row in fresh_rows.values()]
    assert first["mos"]["judges"]["nisqa"]["cache_hits"] == 0


@pytest.mark.real_assets
def test_nisqa_scores_each_side_at_its_own_rate_as_published(experiment, tiny_whisper_path, real_nisqa_path):
    from fcodec.metrics.nisqa import NisqaPredictor

    root, cuts_path, decode_dir = experiment
    nisqa = ["--mos-judges", "nisqa", "--nisqa-model", str(real_nisqa_path)]
    rows, summary = _score(cuts_path, decode_dir, root / "rates", root / "rates_cache", tiny_whisper_path, *nisqa)
    assert summary["mos"]["judges"]["nisqa"]["sample_rate"] == "native"
    predictor = NisqaPredictor.from_checkpoint(real_nisqa_path)
    for cut_id, row in rows.items():
        recon, rate = sf.read(decode_dir / "wav" / f"{cut_id}.wav", dtype="float32")
        assert rate == 24000
        expected = predictor.predict([recon], rate)[0]["mos"]
        assert float(row["nisqa_mos_recon"]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.real_assets
def test_a_silent_reconstruction_is_flagged_and_left_out_of_the_mos_means(tmp_path, tiny_whisper_path, real_nisqa_path):
    items = [(f"en_{i}", speechlike(1.5 + i, i), "THE CAT SAT ON THE MAT", "en") for i in range(3)]
    cuts, cuts_path = make_test_cuts(tmp_path / "data", items)
    silent = lambda cut_id, audio: 1e-5 * audio if cut_id == "en_1" else 0.9 * audio  # noqa: E731  about -100 dBFS
    decode_dir = make_decode_dir(tmp_path / "decode" / "test", cuts, silent)
    nisqa = ["--mos-judges", "nisqa", "--nisqa-model", str(real_nisqa_path)]
    rows, summary = _score(cuts_path, decode_dir, tmp_path / "score", tmp_path / "cache", tiny_whisper_path, *nisqa)
    assert {cut_id: row["silent"] for cut_id, row in rows.items()} == {"en_0": "", "en_1": "reconstruction", "en_2": ""}
    assert rows["en_1"]["nisqa_mos_recon"] != ""  # still scored and shown, only flagged
    recon = summary["languages"]["en"]["mos"]["nisqa"]["reconstruction"]["mos"]
    assert recon["n"] == 2 and recon["silent"] == 1
    expected = np.mean([float(rows[c]["nisqa_mos_recon"]) for c in ("en_0", "en_2")])
    assert recon["mean"] == pytest.approx(expected, abs=1e-3)
    original = summary["languages"]["en"]["mos"]["nisqa"]["original"]["mos"]
    assert original["n"] == 3 and original["silent"] == 0


def _live_in_group(pgid):
    """(pid, state) of the processes of a process group that are not zombies (PID 1 here may reap them late)."""
    from pathlib import Path

    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append((int(stat.parent.name), fields[0]))
    return live


def test_sigterm_leaves_no_process_behind(tmp_path, tiny_whisper_path):
    import signal
    import subprocess
    import sys
    import time

    items = [(f"en_{i:02d}", speechlike(2.0, i), "THE CAT SAT ON THE MAT", "en") for i in range(40)]
    cuts, cuts_path = make_test_cuts(tmp_path / "data", items)
    decode_dir = make_decode_dir(tmp_path / "decode" / "test", cuts, lambda _, audio: 0.9 * audio)
    command = [sys.executable, "-m", "fcodec.bin.score", "--ref-cuts", str(cuts_path), "--decode-dir", str(decode_dir)]
    command += ["--out-dir", str(tmp_path / "score"), "--asr-models", str(tiny_whisper_path), "--nj", "2"]
    command += ["--mos-judges", "--speaker-model", "none", "--batch-size", "2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    for line in process.stderr:  # the pool starts with the first batch
        if "batch" in line or time.monotonic() > deadline:
            break
    time.sleep(1.0)
    assert len(_live_in_group(process.pid)) >= 3  # the run, its pool workers and resource tracker: it can fail
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) != 0
    time.sleep(1.0)
    assert _live_in_group(process.pid) == []  # no pool worker, no resource tracker left (a zombie is dead)
    assert not (tmp_path / "score" / JUDGE / "test" / ".done").exists()
