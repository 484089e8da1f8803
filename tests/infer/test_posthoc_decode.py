"""``fcodec.bin.decode --posthoc``: the decode folder of a post-hoc baseline (its bitrate, tokens, the bit choice
saved and reused), streaming equal to offline, and bad input as one line."""

import json

import numpy as np
import pytest
from lhotse import CutSet

from fcodec.bin import decode as decode_cli
from fcodec.infer.posthoc import CALIBRATION_FILE
from fcodec.infer.tokens import load_tokens
from fcodec.layout import decode_format
from fcodec.layout.experiment import posthoc_model_name
from tests.infer.conftest import LENGTHS


def decode(codec_dir, cuts, out_dir, *extra):
    argv = ["--model", str(codec_dir), "--cuts", str(cuts), "--out-dir", str(out_dir), "--no-progress", *extra]
    return decode_cli.main(argv)


def tokens_of(directory):
    return {c.id: load_tokens(c) for c in CutSet.from_file(directory / decode_format.TOKEN_CUTS)}


@pytest.fixture(scope="module")
def bit_decode(codec_dirs, test_cuts, tmp_path_factory):
    """The 50 Hz model through 50hz_3bit_150bps, calibrated on the test cuts themselves (stand-ins for training
    cuts)."""
    out = tmp_path_factory.mktemp("exp") / posthoc_model_name("train_50hz", "50hz_3bit_150bps") / "decode"
    extra = ["--posthoc", "50hz_3bit_150bps", "--posthoc-calibration-cuts", str(test_cuts)]
    assert decode(codec_dirs["50hz"], test_cuts, out, *extra) == 0
    return out, extra


def test_a_bit_preset_decode_has_its_bitrate_and_its_calibration(bit_decode, test_cuts):
    out, _ = bit_decode
    assert out.parent.name == "train_50hz+posthoc_50hz_3bit_150bps"
    summary = json.loads((out / "test_set" / decode_format.SUMMARY).read_text())
    assert (summary["frame_rate"], summary["bitrate"], summary["codebook_size"]) == (50.0, 150.0, 8)
    assert summary["num_failed"] == 0 and summary["num_tokens"] == sum(-(-n // 320) for n in LENGTHS)
    saved = json.loads((out / CALIBRATION_FILE).read_text())
    assert summary["posthoc"] == {"preset": "50hz_3bit_150bps", "bits": saved["choice"]}
    assert len(saved["choice"]["kept"]) == 3 and saved["choice"]["stats"]["cuts"] == len(LENGTHS)
    assert saved["settings"]["calibration_cuts"] == str(test_cuts.absolute())
    assert all(t.max() < 8 for t in tokens_of(out / "test_set").values())


def test_a_rerun_reuses_the_saved_choice_and_does_nothing(bit_decode, codec_dirs, test_cuts, caplog):
    out, extra = bit_decode
    before = (out / CALIBRATION_FILE).stat().st_mtime_ns
    with caplog.at_level("INFO"):
        assert decode(codec_dirs["50hz"], test_cuts, out, *extra) == 0
    assert (out / CALIBRATION_FILE).stat().st_mtime_ns == before
    assert "the bit choice of" in caplog.text and "nothing to do" in caplog.text


def test_a_keep_preset_streams_the_offline_tokens(codec_dirs, test_cuts, tmp_path):
    offline, streamed = tmp_path / "offline", tmp_path / "streamed"
    assert decode(codec_dirs["50hz"], test_cuts, offline, "--posthoc", "50hz_keep4_137.5bps") == 0
    assert decode(codec_dirs["50hz"], test_cuts, streamed, "--posthoc", "50hz_keep4_137.5bps", "--streaming") == 0
    summary = json.loads((offline / "test_set" / decode_format.SUMMARY).read_text())
    assert (summary["frame_rate"], summary["bitrate"]) == (12.5, 137.5)
    assert summary["num_tokens"] == sum(-(-n // 1280) for n in LENGTHS)  # every group that overlaps the cut
    assert not (offline / CALIBRATION_FILE).exists()  # nothing to calibrate
    a, b = tokens_of(offline / "test_set"), tokens_of(streamed / "test_set")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_bad_posthoc_input_is_one_line(codec_dirs, test_cuts, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl.gz"
    CutSet.from_cuts([]).to_file(empty)
    cases = [
        (["--posthoc", "50hz_fast_275bps"], "unknown post-hoc preset '50hz_fast_275bps'"),
        (["--posthoc", "50hz_3bit_150bps"], "give --posthoc-calibration-cuts"),
        (["--posthoc-calibration-cuts", str(test_cuts)], "without --posthoc"),
        (["--posthoc", "50hz_12bit_600bps", "--posthoc-calibration-cuts", str(test_cuts)], "is not below the model"),
        (["--posthoc", "25hz_keep2_137.5bps"], "is for a 25 Hz model; this one is 50 Hz"),
        (["--posthoc", "50hz_3bit_150bps", "--posthoc-calibration-cuts", str(empty)], "hold no cuts"),
    ]
    for extra, message in cases:
        assert decode(codec_dirs["50hz"], test_cuts, tmp_path / "out", *extra) != 0, extra
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, (extra, err)
