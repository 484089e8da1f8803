"""End to end: decode-format inputs made without the codec, scored through the CLI, reported."""

import csv
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fcodec.bin import report as report_cli
from fcodec.bin import score as score_cli
from fcodec.metrics.summaries import find_summaries
from fcodec.metrics.testing import make_decode_dir, make_test_cuts, speechlike


def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def noisy(cut_id, audio):
    """A stand-in reconstruction: the original plus noise, deterministic per cut."""
    rng = np.random.default_rng(zlib.crc32(cut_id.encode()))
    return audio + 0.003 * rng.standard_normal(len(audio)).astype(np.float32)


@pytest.fixture(scope="module")
def scored_experiment(tmp_path_factory, tiny_whisper_path):
    """Two models scored with the tiny random judge; the test cuts include every kind of bad input."""
    root = tmp_path_factory.mktemp("score")
    items = [
        ("zh_ok", speechlike(1.6, 0), "今天天气很好", "zh"),
        ("en_ok", speechlike(1.8, 1), "THE CAT SAT ON THE MAT", "en"),
        ("zh_decode_failed", speechlike(1.2, 2), "不行", "zh"),
        ("en_missing", speechlike(1.2, 3), "MISSING", "en"),
        ("zh_unreadable", speechlike(1.2, 4), "读不了", "zh"),
        ("en_short", speechlike(0.2, 5), "SHORT", "en"),
        ("zh_empty_text", speechlike(1.4, 6), "。", "zh"),
    ]
    cuts, cuts_path = make_test_cuts(root / "data", items)
    exp = root / "exp"
    for model, bitrate in (("train_50hz", 550.0), ("train_25hz", 275.0)):
        decode_dir = exp / model / "decode" / "test"
        make_decode_dir(
            decode_dir,
            cuts,
            lambda cut_id, audio: None if cut_id == "en_missing" else noisy(cut_id, audio),
            failed={"zh_decode_failed": "CUDA out of memory"},
            bitrate=bitrate,
            frame_rate=bitrate / 11,
        )
        (decode_dir / "wav" / "zh_unreadable.wav").write_bytes(b"this is not a wav file")
        # train_50hz scores the signal metrics in a worker pool, train_25hz in this process: results must agree
        score_cli.main(
            [
                "--ref-cuts",
                str(cuts_path),
                "--decode-dir",
                str(decode_dir),
                "--out-dir",
                str(exp / model / "score"),
                "--asr-models",
                str(tiny_whisper_path),
                "--nj",
                "1" if model == "train_50hz" else "0",
                "--batch-size",
                "4",
            ]
        )
    return exp


JUDGE = "tiny-random"  # the label of tiny_whisper_path (tiny-random.pt)


def test_every_bad_input_is_listed_with_its_reason(scored_experiment):
    out = scored_experiment / "train_50hz" / "score" / JUDGE / "test"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    failed = {(row["cut_id"], row["what"]): row["reason"] for row in read_tsv(out / "failed.tsv")}
    assert "CUDA out of memory" in failed[("zh_decode_failed", "decode")]
    assert "no reconstruction" in failed[("en_missing", "decode")]
    assert "unreadable reconstruction audio" in failed[("zh_unreadable", "audio")]
    assert "zh_unreadable.wav" in failed[("zh_unreadable", "audio")]
    assert "1/4 of a second" in failed[("en_short", "pesq")]
    assert "too short for STOI" in failed[("en_short", "stoi")]
    assert "empty ground-truth text" in failed[("zh_empty_text", "asr")]
    failed_ids = {"zh_decode_failed", "en_missing", "zh_unreadable", "en_short", "zh_empty_text"}
    assert {cut_id for cut_id, _ in failed} == failed_ids
    assert (summary["num_cuts"], summary["num_failed"], summary["num_scored"]) == (7, 5, 2)
    zh, en = summary["languages"]["zh"], summary["languages"]["en"]
    assert (zh["num_cuts"], zh["num_failed"], zh["num_asr_scored"]) == (4, 3, 1)
    assert (en["num_cuts"], en["num_failed"], en["num_asr_scored"]) == (3, 2, 2)  # en_short still gets ASR
    # averages say how many utterances they cover
    assert zh["signal"]["pesq"]["n"] == 2 and en["signal"]["pesq"]["n"] == 1 and en["signal"]["si_sdr"]["n"] == 2
    rows = {row["cut_id"]: row for row in read_tsv(out / "utterances.tsv")}
    assert set(rows) == {"zh_ok", "en_ok"} | failed_ids
    assert rows["en_short"]["pesq"] == "" and rows["en_short"]["si_sdr"] != ""
    assert "decode failed: CUDA out of memory" in rows["zh_decode_failed"]["failures"]


def test_score_outputs_and_metrics(scored_experiment):
    out = scored_experiment / "train_50hz" / "score" / JUDGE / "test"
    for name in (
        "summary.json",
        "utterances.tsv",
        "failed.tsv",
        ".done",
        "wer-summary-test_zh.txt",
        "recogs-test_en-recon_vs_orig.txt",
        "errs-test_en-orig_vs_gt.txt",
        "errs-test_zh-recon_vs_gt.txt",
    ):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["bitrate"] == 550.0 and summary["frame_rate"] == 50.0
    assert summary["asr"]["random_test_model"] is True and summary["asr"]["label"] == JUDGE
    assert summary["asr"]["paper_comparable"] is False
    # the MOS judges: DNSMOS (speechmos is installed with the eval extra) and NISQA where its weights are
    scored_by = set(summary["mos"]["judges"])
    assert "dnsmos" in scored_by and scored_by | set(summary["mos"]["skipped"]) == {"nisqa", "dnsmos"}
    assert "model" in summary["speaker_similarity"]
    rows = {row["cut_id"]: row for row in read_tsv(out / "utterances.tsv")}
    for judge, dimensions in (
        ("dnsmos", ("ovrl", "sig", "bak", "p808")),
        ("nisqa", ("mos", "noisiness", "discontinuity", "coloration", "loudness")),
    ):
        if judge not in scored_by:
            continue
        for dimension in dimensions:
            block = summary["languages"]["zh"]["mos"][judge]
            assert 1.0 <= block["original"][dimension]["mean"] <= 5.0 and block["original"][dimension]["n"] == 2
            assert 1.0 <= block["reconstruction"][dimension]["mean"] <= 5.0
            assert 1.0 <= float(rows["zh_ok"][f"{judge}_{dimension}_orig"]) <= 5.0
            assert 1.0 <= float(rows["zh_ok"][f"{judge}_{dimension}_recon"]) <= 5.0
            assert rows["zh_decode_failed"][f"{judge}_{dimension}_recon"] == ""  # nothing to score
    # the reconstruction is the original plus faint noise: the same voice
    assert float(rows["zh_ok"]["speaker_sim"]) > 0.9 and summary["languages"]["en"]["speaker_similarity"]["n"] == 2
    zh = summary["languages"]["zh"]
    assert zh["unit"] == "char" and zh["rate_name"] == "CER"
    # the stand-in reconstruction is the original plus faint noise: good signal scores, measured, not assumed
    assert zh["signal"]["pesq"]["mean"] > 2.5 and zh["signal"]["stoi"]["mean"] > 0.8
    assert zh["signal"]["delay_ms"]["mean"] == 0.0
    errs = (out / "errs-test_zh-recon_vs_orig.txt").read_text(encoding="utf-8")
    assert errs.startswith("%CER = ") and "zh_ok:\t" in errs
    assert summary["command"].startswith("python -m fcodec.bin.score --ref-cuts ")
    assert summary["environment"]["fcodec"]


def test_originals_are_transcribed_once_and_pool_matches_in_process(scored_experiment):
    train_50hz = scored_experiment / "train_50hz" / "score" / JUDGE / "test"
    train_25hz = scored_experiment / "train_25hz" / "score" / JUDGE / "test"
    s1 = json.loads((train_50hz / "summary.json").read_text(encoding="utf-8"))
    s2 = json.loads((train_25hz / "summary.json").read_text(encoding="utf-8"))
    assert s1["asr"]["cache"] == s2["asr"]["cache"]
    assert s1["asr"]["cache"].startswith(str(scored_experiment / "asr_cache"))
    assert s1["asr"]["cache_hits"] == 0 and s2["asr"]["cache_hits"] == 3  # zh_ok, en_ok, en_short
    # the originals' MOS and speaker embeddings too (zh_empty_text as well: it only lacks ASR)
    for judge in s1["mos"]["judges"]:
        assert s1["mos"]["judges"][judge]["cache_hits"] == 0 and s2["mos"]["judges"][judge]["cache_hits"] == 4
    rows1 = {r["cut_id"]: r for r in read_tsv(train_50hz / "utterances.tsv")}
    rows2 = {r["cut_id"]: r for r in read_tsv(train_25hz / "utterances.tsv")}
    for cut_id in ("zh_ok", "en_ok", "en_short"):
        assert rows1[cut_id]["original_transcript"] == rows2[cut_id]["original_transcript"]
        for metric in (
            "si_sdr",
            "mel_distance",
            "stft_distance",
            "stoi",
            "pesq",
            "dnsmos_ovrl_orig",
            "dnsmos_ovrl_recon",
            "speaker_sim",
        ):
            assert rows1[cut_id][metric] == rows2[cut_id][metric], (cut_id, metric)


def test_report_from_scored_experiment(scored_experiment, tmp_path):
    import matplotlib.image

    out = tmp_path / "RESULTS.md"
    report_cli.main(["--exp-dir", str(scored_experiment), "--out", str(out), "--plot", str(tmp_path / "rate.png")])
    text = out.read_text(encoding="utf-8")
    assert "tiny random-weight Whisper: every number below is meaningless" in text
    assert "## test (en)" in text and "## test (zh)" in text
    zh_table = text[text.index("## test (zh)") :]
    assert f"### Judge `{JUDGE}` (tiny random test model)" in zh_table and "### Judges side by side" not in text
    judge_table, quality = zh_table.split("### Quality")
    rows = [line for line in judge_table.splitlines() if line.startswith(("| model", "| train_", "| pretrained"))]
    assert [row.split(" | ")[0] for row in rows] == ["| model", "| train_50hz", "| train_25hz"]
    quality_rows = [line.split(" | ")[0] for line in quality.split("\n\n")[1].splitlines()]
    assert quality_rows[0] == "| model" and quality_rows[2:] == ["| train_50hz", "| train_25hz", "| original"]
    assert "| train_25hz | 25 | 275 |" in zh_table and rows[1].endswith("| 1 | 3 |")  # scored 1, failed 3
    assert "![error and quality against bitrate](rate.png)" in text
    image = matplotlib.image.imread(tmp_path / "rate.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600


@pytest.mark.slow  # 12 s on the 2-core machine
def test_two_judges_score_into_their_own_folders_and_the_signal_metrics_once(tmp_path, tiny_whisper_path, monkeypatch):
    """Two tiny random Whispers with different seeds are two judges: a folder, a cache file and a table each;
    the signal metrics, which do not depend on the judge, are computed once and written for both."""
    from fcodec.metrics import asr_judging
    from fcodec.metrics.plot import _series
    from fcodec.metrics.summaries import reference_judge, summary_value
    from fcodec.utils.whisper import make_tiny_whisper

    other = make_tiny_whisper(tmp_path / "judges" / "tiny-random-seed1.pt", seed=1)
    cuts, cuts_path = make_test_cuts(
        tmp_path / "data",
        [
            ("zh_a", speechlike(1.4, 10), "今天天气很好", "zh"),
            ("en_b", speechlike(1.6, 11), "THE CAT SAT", "en"),
            ("en_short", speechlike(0.2, 12), "SHORT", "en"),
        ],
    )
    exp = tmp_path / "exp"
    calls = []
    real_score_pair = asr_judging.score_pair
    monkeypatch.setattr(asr_judging, "score_pair", lambda *args: calls.append(args) or real_score_pair(*args))
    judges = [str(tiny_whisper_path), str(other)]
    for model, bitrate in (("train_50hz", 550.0), ("train_25hz", 275.0)):
        decode_dir = make_decode_dir(
            exp / model / "decode" / "test", cuts, noisy, bitrate=bitrate, frame_rate=bitrate / 11
        )
        score_cli.main(
            [
                "--ref-cuts",
                str(cuts_path),
                "--decode-dir",
                str(decode_dir),
                "--out-dir",
                str(exp / model / "score"),
                "--asr-models",
                *judges,
                "--nj",
                "0",
                "--max-tokens-per-second",
                "3",
            ]
        )
    assert len(calls) == 2 * 3  # once per model and cut, not once per judge
    summaries = {}
    for judge in ("tiny-random", "tiny-random-seed1"):
        out = exp / "train_50hz" / "score" / judge / "test"
        assert all((out / name).is_file() for name in ("summary.json", "utterances.tsv", "failed.tsv", ".done"))
        summaries[judge] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert summaries[judge]["asr"]["label"] == judge
        train_25hz = json.loads(
            (exp / "train_25hz" / "score" / judge / "test" / "summary.json").read_text(encoding="utf-8")
        )
        assert train_25hz["asr"]["cache_hits"] == 3  # each judge's own cache of the originals' transcripts
    first, second = summaries["tiny-random"], summaries["tiny-random-seed1"]
    assert first["asr"]["identity"]["sha256"] != second["asr"]["identity"]["sha256"]
    assert first["asr"]["cache"] != second["asr"]["cache"]
    # one cache file per ASR judge; the MOS judges' and the speaker encoder's do not depend on the ASR judge
    quality_caches = {f"test.mos-{judge}.json" for judge in first["mos"]["judges"]} | {"test.speaker-resemblyzer.json"}
    assert sorted(p.name for p in (exp / "asr_cache").iterdir()) == sorted(
        {Path(first["asr"]["cache"]).name, Path(second["asr"]["cache"]).name} | quality_caches
    )
    assert first["mos"] == second["mos"] and first["languages"]["en"]["mos"] == second["languages"]["en"]["mos"]
    rows = [
        {r["cut_id"]: r for r in read_tsv(exp / "train_50hz" / "score" / j / "test" / "utterances.tsv")}
        for j in summaries
    ]
    assert any(rows[0][c]["recon_transcript"] != rows[1][c]["recon_transcript"] for c in rows[0])  # two judges
    for cut_id in rows[0]:
        for metric in ("pesq", "stoi", "si_sdr", "mel_distance", "stft_distance"):
            assert rows[0][cut_id][metric] == rows[1][cut_id][metric], (cut_id, metric)
    assert first["languages"]["en"]["signal"] == second["languages"]["en"]["signal"]

    out = tmp_path / "RESULTS.md"
    report_cli.main(["--exp-dir", str(exp), "--out", str(out), "--plot", str(tmp_path / "rate.png")])
    text = out.read_text(encoding="utf-8")
    for language in ("en", "zh"):
        section = text.split(f"## test ({language})")[1].split("\n## ")[0]
        headings = [line for line in section.splitlines() if line.startswith("### ")]
        assert headings == [
            "### Judge `tiny-random` (tiny random test model)",
            "### Judge `tiny-random-seed1` (tiny random test model)",
            "### Judges side by side",
            "### Quality",
        ]  # the MOS judges once: they do not depend on the ASR judge
        tables = [line for line in section.splitlines() if line.startswith("| model |")]
        assert len(tables) == 4 and "corpus: tiny-random-seed1" in tables[2] and "DNSMOS OVRL" in tables[3]
        assert len([line for line in section.splitlines() if line.startswith("| train_50hz |")]) == 4
        assert "corpus tiny-random-seed1 / tiny-random" in tables[2]  # no paper-comparable judge: over the first
    # the plot shows one judge (the paper-comparable one, here none: the first by name), quality once per model
    scores = find_summaries(exp)
    assert reference_judge(scores) == "tiny-random"
    first_judge = [s for s in scores if s.judge == "tiny-random"]
    assert _series(first_judge, "en", "corpus", "d_err_pct") == {
        "test": [
            (s.summary["bitrate"], summary_value(s.summary["languages"]["en"], "corpus", "d_err_pct"), s.model)
            for s in sorted(first_judge, key=lambda s: s.summary["bitrate"])
        ]
    }
    assert [point[2] for point in _series(scores, "en", "signal", "stoi", "mean")["test"]] == [
        "train_25hz",
        "train_50hz",
    ]
    assert (tmp_path / "rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_judges_that_would_share_a_folder_are_refused(tmp_path, tiny_whisper_path):
    import shutil

    from fcodec.metrics.score_inputs import ScoreConfig
    from fcodec.metrics.scoring import score

    cuts, cuts_path = make_test_cuts(tmp_path / "data", [("zh_a", speechlike(1.0, 0), "好", "zh")])
    decode_dir = make_decode_dir(tmp_path / "decode" / "test", cuts, noisy)
    twin = tmp_path / "elsewhere" / tiny_whisper_path.name
    twin.parent.mkdir()
    shutil.copy(tiny_whisper_path, twin)
    config = ScoreConfig(
        ref_cuts=cuts_path,
        decode_dir=decode_dir,
        out_dir=tmp_path / "score",
        asr_models=[str(tiny_whisper_path), str(twin)],
    )
    with pytest.raises(ValueError, match="two judges would share a score folder"):
        score(config)
    assert not (tmp_path / "score").exists()


def test_missing_decode_outputs_are_clear_errors(tmp_path, tiny_whisper_path, capsys):
    cuts, cuts_path = make_test_cuts(tmp_path / "data", [("zh_a", speechlike(1.0, 0), "好", "zh")])
    decode_dir = tmp_path / "decode" / "test"
    decode_dir.mkdir(parents=True)
    args = [
        "--ref-cuts",
        str(cuts_path),
        "--decode-dir",
        str(decode_dir),
        "--out-dir",
        str(tmp_path / "score"),
        "--asr-models",
        str(tiny_whisper_path),
    ]
    assert score_cli.main(args) == 1
    assert re.fullmatch(
        r"python -m fcodec.bin.score: error: \S+\.done is missing.*--allow-unfinished\)\n", capsys.readouterr().err
    )
    assert score_cli.main(args + ["--allow-unfinished"]) == 1
    assert "recon_cuts.jsonl.gz is missing" in capsys.readouterr().err


@pytest.mark.slow  # 15 s on the 2-core machine (the real Whisper)
@pytest.mark.real_assets
def test_real_judge_scores_a_perfect_24khz_reconstruction_as_perfect(tmp_path, real_audio_dir, real_whisper_path):
    """The reconstruction is the original at 24 kHz: if the judge's or the metrics' resampling were wrong, the
    transcripts and PESQ would show it."""
    en = sf.read(real_audio_dir / "librispeech-dev-clean/84/84-121123-0001.wav", dtype="float32")[0]
    zh = sf.read(real_audio_dir / "magicdata-zh-dev-set/38_5731_20170914195805.wav", dtype="float32")[0]
    cuts, cuts_path = make_test_cuts(
        tmp_path / "data",
        [
            ("en_84", en, "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED BENEATH AN EXTRAORDINARY WEIGHT", "en"),
            ("zh_38", zh, "我们这下了一整天的雨雨还在继续下你们哪里下雨了吗", "zh"),
        ],
    )
    decode_dir = make_decode_dir(tmp_path / "exp" / "pretrained" / "decode" / "real", cuts, lambda _, audio: audio)
    out = tmp_path / "exp" / "pretrained" / "score"
    score_cli.main(
        [
            "--ref-cuts",
            str(cuts_path),
            "--decode-dir",
            str(decode_dir),
            "--out-dir",
            str(out),
            "--asr-models",
            str(real_whisper_path),
            "--nj",
            "1",
        ]
    )
    summary = json.loads((out / "whisper-base" / "real" / "summary.json").read_text(encoding="utf-8"))
    assert summary["num_failed"] == 0 and summary["asr"]["random_test_model"] is False
    assert summary["asr"]["paper_comparable"] is False  # base, not small
    for language in ("en", "zh"):
        block = summary["languages"][language]
        assert block["corpus"]["d_err_pct"] == 0.0
        assert block["vs_truth"]["original"]["rate_pct"] == 0.0
        assert block["vs_truth"]["reconstruction"]["rate_pct"] == 0.0
        assert block["per_utterance"]["d_err_mean_pct"] == 0.0
        assert block["signal"]["pesq"]["mean"] > 4.0 and block["signal"]["stoi"]["mean"] > 0.99


def test_a_missing_mos_judge_is_skipped_with_a_line_and_the_rest_is_scored(tmp_path, tiny_whisper_path, caplog):
    import logging

    cuts, cuts_path = make_test_cuts(
        tmp_path / "data",
        [("en_a", speechlike(1.6, 20), "THE CAT SAT", "en"), ("en_b", speechlike(1.2, 21), "ON THE MAT", "en")],
    )
    exp = tmp_path / "exp"
    decode_dir = make_decode_dir(exp / "train_50hz" / "decode" / "test", cuts, noisy, bitrate=550.0, frame_rate=50.0)
    missing = tmp_path / "models" / "mos" / "nisqa.tar"
    with caplog.at_level(logging.WARNING):
        score_cli.main(
            [
                "--ref-cuts",
                str(cuts_path),
                "--decode-dir",
                str(decode_dir),
                "--out-dir",
                str(exp / "train_50hz" / "score"),
                "--asr-models",
                str(tiny_whisper_path),
                "--nj",
                "0",
                "--max-tokens-per-second",
                "3",
                "--mos-judges",
                "nisqa",
                "dnsmos",
                "--nisqa-model",
                str(missing),
                "--speaker-model",
                "none",
            ]
        )
    assert len([r for r in caplog.records if "MOS judge nisqa skipped" in r.getMessage()]) == 1
    out = exp / "train_50hz" / "score" / JUDGE / "test"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["mos"]["judges"]) == ["dnsmos"] and str(missing) in summary["mos"]["skipped"]["nisqa"]
    assert summary["num_failed"] == 0 and summary["languages"]["en"]["signal"]["pesq"]["n"] == 2
    assert summary["languages"]["en"]["mos"]["dnsmos"]["reconstruction"]["ovrl"]["n"] == 2
    assert "speaker_similarity" not in summary["languages"]["en"]
    header = read_tsv(out / "utterances.tsv")[0]
    assert "dnsmos_ovrl_orig" in header and not any(k.startswith("nisqa") for k in header)
    results = tmp_path / "RESULTS.md"
    report_cli.main(["--exp-dir", str(exp), "--out", str(results), "--no-plot"])
    text = results.read_text(encoding="utf-8")
    assert summary["mos"]["skipped"]["nisqa"] in text and "speaker similarity skipped" in text
    quality = text.split("### Quality")[1].split("\n\n")[1].splitlines()
    assert quality[0] == "| model | bitrate (bps) | DNSMOS OVRL | DNSMOS SIG | DNSMOS BAK | DNSMOS P.808 |"
    assert quality[2].startswith("| train_50hz | 550 | ") and quality[3].startswith("| original | – | ")
    assert all(1.0 <= float(cell) <= 5.0 for row in quality[2:] for cell in row.strip("| ").split(" | ")[2:])


def test_a_second_asr_judge_reuses_the_reconstructions_quality_until_they_change(
    tmp_path, tiny_whisper_path, monkeypatch
):
    """Stage 8 with a judge added later scores the same decode again: the MOS judges and the speaker encoder do not
    run again on unchanged reconstructions (nor on the originals), and a re-decoded reconstruction is scored anew."""
    from fcodec.metrics import mos
    from fcodec.metrics.dnsmos import DnsmosPredictor
    from fcodec.metrics.speaker_similarity import SpeakerEncoder
    from fcodec.utils.whisper import make_tiny_whisper

    heard = {"dnsmos": [], "speaker": []}  # the waveforms each real model was given, call by call
    real_predict, real_embed = DnsmosPredictor.predict, SpeakerEncoder.embed
    # the judge's one test signal at load is tested in test_mos_judges.py: here only scoring's calls are counted
    monkeypatch.setattr(mos, "_self_check", lambda judge: None)
    monkeypatch.setattr(
        DnsmosPredictor,
        "predict",
        lambda self, w, *a, **k: heard["dnsmos"].append(len(w)) or real_predict(self, w, *a, **k),
    )
    monkeypatch.setattr(
        SpeakerEncoder,
        "embed",
        lambda self, w, *a, **k: heard["speaker"].append(len(w)) or real_embed(self, w, *a, **k),
    )
    cuts, cuts_path = make_test_cuts(
        tmp_path / "data",
        [("en_a", speechlike(1.6, 30), "THE CAT SAT", "en"), ("en_b", speechlike(1.4, 31), "ON THE MAT", "en")],
    )
    decode_dir = make_decode_dir(tmp_path / "exp" / "train_50hz" / "decode" / "test", cuts, noisy)
    out_dir = tmp_path / "exp" / "train_50hz" / "score"

    def score_with(judge):
        score_cli.main(
            ["--ref-cuts", str(cuts_path), "--decode-dir", str(decode_dir), "--out-dir", str(out_dir)]
            + ["--asr-models", str(judge), "--nj", "0", "--max-tokens-per-second", "3", "--mos-judges", "dnsmos"]
        )
        summary = json.loads((out_dir / Path(judge).stem / "test" / "summary.json").read_text(encoding="utf-8"))
        rows = {r["cut_id"]: r for r in read_tsv(out_dir / Path(judge).stem / "test" / "utterances.tsv")}
        return summary, rows

    first, first_rows = score_with(tiny_whisper_path)
    assert heard == {"dnsmos": [4], "speaker": [4]}  # 2 originals + 2 reconstructions
    second, second_rows = score_with(make_tiny_whisper(tmp_path / "judges" / "tiny-random-seed1.pt", seed=1))
    assert heard == {"dnsmos": [4], "speaker": [4]}  # not called again
    assert second["mos"]["judges"]["dnsmos"]["reconstruction_cache_hits"] == 2
    assert second["speaker_similarity"]["reconstruction_cache_hits"] == 2
    assert second["languages"]["en"]["mos"] == first["languages"]["en"]["mos"]
    assert second["languages"]["en"]["speaker_similarity"] == first["languages"]["en"]["speaker_similarity"]
    for cut_id in ("en_a", "en_b"):
        for column in ("dnsmos_ovrl_orig", "dnsmos_ovrl_recon", "dnsmos_p808_recon", "speaker_sim"):
            assert second_rows[cut_id][column] == first_rows[cut_id][column], (cut_id, column)
    # a re-decode rewrites en_b's reconstruction: only it is scored again
    (wav,) = (decode_dir / "wav").glob("en_b*")
    audio, rate = sf.read(wav, dtype="float32")
    sf.write(wav, audio + 0.05 * np.random.default_rng(1).standard_normal(len(audio)).astype(np.float32), rate)
    third, third_rows = score_with(make_tiny_whisper(tmp_path / "judges" / "tiny-random-seed2.pt", seed=2))
    assert heard == {"dnsmos": [4, 1], "speaker": [4, 1]}
    assert third["mos"]["judges"]["dnsmos"]["reconstruction_cache_hits"] == 1
    assert third_rows["en_a"]["dnsmos_ovrl_recon"] == first_rows["en_a"]["dnsmos_ovrl_recon"]
    assert third_rows["en_b"]["dnsmos_ovrl_recon"] != first_rows["en_b"]["dnsmos_ovrl_recon"]
    assert third_rows["en_b"]["dnsmos_ovrl_orig"] == first_rows["en_b"]["dnsmos_ovrl_orig"]


def test_every_decode_of_an_experiment_is_scored_in_one_run_into_its_models_folder(
    tmp_path, tiny_whisper_path, caplog, capsys, monkeypatch
):
    """Stage 8's one command: two models x two test sets, each decode against its own test set's cuts (found by
    name), into its model's score folder, the quality judges loaded once; a rerun finds all four up to date before
    any judge loads. Decodes that cannot be paired or would share a folder are refused before anything runs."""
    import logging

    from fcodec.metrics import mos

    loads = []
    real_load = mos.load_mos_judges
    monkeypatch.setattr(mos, "load_mos_judges", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    sets = {
        "test_zh": [("zh_a", speechlike(1.2, 40), "今天很好", "zh"), ("zh_b", speechlike(1.0, 41), "好", "zh")],
        "test_en": [("en_a", speechlike(1.1, 42), "THE CAT SAT", "en")],
    }
    ref_cuts, decode_dirs = [], []
    for name, items in sets.items():
        cuts, path = make_test_cuts(tmp_path / "data" / name, items)
        ref_cuts.append(path.rename(tmp_path / "data" / f"{name}.jsonl.gz"))
        for model in ("train_50hz", "train_25hz"):
            decode_dirs.append(make_decode_dir(tmp_path / "exp" / model / "decode" / name, cuts, noisy))
    args = ["--ref-cuts", *map(str, ref_cuts), "--decode-dir", *map(str, decode_dirs)]
    args += ["--asr-judges", str(tiny_whisper_path), "--nj", "0", "--max-tokens-per-second", "3", "--mos-judges"]
    args += ["--speaker-model", "none"]
    assert score_cli.main(args) == 0
    assert len(loads) == 1
    for model in ("train_50hz", "train_25hz"):
        for name, items in sets.items():
            summary = json.loads((tmp_path / "exp" / model / "score" / JUDGE / name / "summary.json").read_text())
            assert summary["num_cuts"] == len(items) and summary["num_failed"] == 0
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert score_cli.main(args) == 0
    assert len(loads) == 1
    assert sum("is up to date" in r.getMessage() for r in caplog.records) == 4
    assert not any("judge tiny-random" in r.getMessage() for r in caplog.records)  # no Whisper loaded
    capsys.readouterr()
    # a decode of a test set whose cuts were not given; two decodes of one test set into one --out-dir
    assert score_cli.main(args[:2] + args[3:]) == 2
    assert "no --ref-cuts file of its test set (test_en.jsonl.gz)" in capsys.readouterr().err
    assert score_cli.main(args + ["--out-dir", str(tmp_path / "one")]) == 2
    err = capsys.readouterr().err
    assert "would be scored into one folder" in err and err.count("\n") == 1 and not (tmp_path / "one").exists()
