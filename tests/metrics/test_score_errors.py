"""Scoring never reports success without a result: ref cuts that match nothing in the decode folder, and a decode
whose every reconstruction is gone, are errors (no .done)."""

import shutil

import pytest

from fcodec.layout import decode_format
from fcodec.metrics.score_inputs import ScoreConfig
from fcodec.metrics.scoring import NothingScoredError, score
from fcodec.metrics.testing import make_decode_dir, make_test_cuts, speechlike
from fcodec.utils.cli import UserError


@pytest.fixture()
def decoded(tmp_path):
    cuts, cuts_path = make_test_cuts(
        tmp_path / "data",
        [("zh_a", speechlike(1.0, 0), "今天天气很好", "zh"), ("en_b", speechlike(1.2, 1), "THE CAT SAT", "en")],
    )
    decode_dir = make_decode_dir(tmp_path / "decode" / "test", cuts, lambda cut_id, audio: audio)
    return cuts_path, decode_dir


def config(tmp_path, cuts_path, decode_dir, judge):
    return ScoreConfig(
        ref_cuts=cuts_path,
        decode_dir=decode_dir,
        out_dir=tmp_path / "score",
        asr_models=[str(judge)],
        nj=0,
        max_tokens_per_second=2.0,
    )


def test_every_reconstruction_gone_is_an_error_not_zero_scored(tmp_path, decoded, tiny_whisper_path):
    cuts_path, decode_dir = decoded
    shutil.rmtree(decode_dir / decode_format.WAV_DIR)
    with pytest.raises(NothingScoredError, match="no utterance of .* could be scored"):
        score(config(tmp_path, cuts_path, decode_dir, tiny_whisper_path))
    assert not list((tmp_path / "score").rglob(".done"))


def test_ref_cuts_matching_nothing_is_an_error(tmp_path, decoded, tiny_whisper_path):
    _, decode_dir = decoded
    _, other = make_test_cuts(tmp_path / "other", [("zh_zzz", speechlike(1.0, 3), "好", "zh")])
    with pytest.raises(UserError, match=r"none of the 1 cuts of --ref-cuts .* was decoded in --decode-dir"):
        score(config(tmp_path, other, decode_dir, tiny_whisper_path))
    assert not (tmp_path / "score").exists()


def test_no_code_from_the_hub_cache_runs_unless_named(tmp_path, decoded, tiny_whisper_path, monkeypatch):
    """A SpeechMOS-looking folder in the torch hub cache (with its weights file) is not imported by a plain score."""
    import torch

    hub = tmp_path / "hub"
    repo = hub / "tarepan_SpeechMOS_main"
    repo.mkdir(parents=True)
    marker = tmp_path / "hubconf_ran"
    (repo / "hubconf.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    (hub / "checkpoints").mkdir()
    (hub / "checkpoints" / "utmos22_strong_step7459_v1.pt").write_bytes(b"")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    cuts_path, decode_dir = decoded
    summaries = score(config(tmp_path, cuts_path, decode_dir, tiny_whisper_path))
    assert not marker.exists()
    mos = next(iter(summaries.values()))["mos"]  # UTMOS is not a default judge: neither run nor skipped
    assert "utmos" not in mos["judges"] and "utmos" not in mos["skipped"]


def test_cli_errors_are_one_line(tmp_path, decoded, tiny_whisper_path, capsys):
    from fcodec.bin import score as score_cli

    cuts_path, decode_dir = decoded
    _, other = make_test_cuts(tmp_path / "other", [("zh_zzz", speechlike(1.0, 3), "好", "zh")])
    common = ["--out-dir", str(tmp_path / "score"), "--nj", "0"]
    cases = [
        (
            [
                "--ref-cuts",
                str(tmp_path / "nope.jsonl.gz"),
                "--decode-dir",
                str(decode_dir),
                "--asr-models",
                str(tiny_whisper_path),
            ],
            "--ref-cuts",
            "not found",
        ),
        (
            ["--ref-cuts", str(cuts_path), "--decode-dir", str(decode_dir), "--asr-models", "smal"],
            "--asr-judges smal: neither a checkpoint file nor a published Whisper name",
            "",
        ),
        (
            ["--ref-cuts", str(other), "--decode-dir", str(decode_dir), "--asr-models", str(tiny_whisper_path)],
            "none of the 1 cuts of --ref-cuts",
            "was decoded in --decode-dir",
        ),
    ]
    for args, first, second in cases:
        assert score_cli.main(args + common) != 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("python -m fcodec.bin.score: error: ")
        assert first in err and second in err, err
    (decode_dir / decode_format.DONE).unlink()  # an unfinished decode
    assert (
        score_cli.main(
            [
                "--ref-cuts",
                str(cuts_path),
                "--decode-dir",
                str(decode_dir),
                "--asr-models",
                str(tiny_whisper_path),
                *common,
            ]
        )
        == 1
    )
    assert "has not finished; rerun the decode" in capsys.readouterr().err
    assert not list((tmp_path / "score").rglob(".done"))
