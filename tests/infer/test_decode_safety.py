"""Decoding writes only inside its output folder (ids that would escape it are refused before anything is
written), and trusts no output it cannot see (a journaled cut whose files are gone is decoded again)."""

import pytest
from lhotse import CutSet

from fcodec.infer.decode import DecodeOptions, decode_cuts
from fcodec.layout import decode_format
from fcodec.utils.names import UnsafeNameError, safe_file_name

QUIET = DecodeOptions(progress=False)


@pytest.mark.parametrize("bad_id", ["../../../escaped", "/ABS/victim", "", "..", "a/b", "a\\b", "tab\there"])
def test_safe_file_name_refuses_what_is_not_one_plain_name(bad_id):
    with pytest.raises(UnsafeNameError, match="cut id .* cannot be used as a file name"):
        safe_file_name(bad_id)


def test_safe_file_name_keeps_ordinary_ids():
    for name in ("zh_BAC009S0002W0122", "en_121-121726-0000", "..hidden-but-plain", "a.b"):
        assert safe_file_name(name) == name


@pytest.mark.parametrize(
    "make_id", [lambda root: "../../../escaped", lambda root: str(root / "victim"), lambda root: "x" * 300]
)
def test_decode_refuses_ids_that_would_write_outside_its_folder(codecs, test_cuts, tmp_path, make_id):
    victim_root = tmp_path / "elsewhere"
    victim_root.mkdir()
    bad_id = make_id(victim_root)
    cuts = list(CutSet.from_file(test_cuts))
    cuts[1] = cuts[1].with_id(bad_id)
    path = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    out = tmp_path / "a" / "b" / "c" / "decode" / "test_set"
    shown = bad_id if len(bad_id) <= 60 else bad_id[:40] + "..." + bad_id[-10:]  # a long one is shortened
    with pytest.raises(UnsafeNameError, match=f"{path}: cut id '{shown}'"):
        decode_cuts(codecs["50hz"], path, out, "m", QUIET)
    assert not list(victim_root.iterdir())
    assert not (out / decode_format.WAV_DIR).exists() and not (out / "tokens").exists()
    assert not list(tmp_path.rglob("escaped*"))


def test_a_deleted_wav_folder_is_decoded_again(codecs, test_cuts, tmp_path):
    import shutil

    out = tmp_path / "test_set"
    first = decode_cuts(codecs["50hz"], test_cuts, out, "m", QUIET)
    assert first["num_failed"] == 0 and (out / decode_format.DONE).is_file()
    before = {p.name: p.read_bytes() for p in (out / decode_format.WAV_DIR).iterdir()}
    shutil.rmtree(out / decode_format.WAV_DIR)
    next((out / "tokens").rglob("*.npy")).unlink()
    again = decode_cuts(codecs["50hz"], test_cuts, out, "m", QUIET)
    assert again["num_failed"] == 0 and again["num_cuts"] == first["num_cuts"]
    assert {p.name: p.read_bytes() for p in (out / decode_format.WAV_DIR).iterdir()} == before
    for cut in CutSet.from_file(out / decode_format.TOKEN_CUTS):
        assert cut.codec_tokens.load().size > 0
    # a complete folder is still left alone
    assert (
        decode_cuts(codecs["50hz"], test_cuts, out, "m", QUIET)["wall_seconds_last_run"]
        == again["wall_seconds_last_run"]
    )


@pytest.mark.parametrize(
    "case, message",
    [
        ("max_duration", "--max-duration 0.0: give the seconds of audio per batch"),
        ("empty", "holds no cuts: nothing to decode"),
        ("cuda", "--device cuda: CUDA is not available on this machine; use --device cpu"),
        ("out_is_file", "is a file; give a folder"),
        ("missing", "not found (stage 2 writes"),
    ],
)
def test_cli_refuses_bad_options_before_any_work(codec_dirs, test_cuts, tmp_path, capsys, case, message):
    import gzip

    import torch

    from fcodec.bin import decode as decode_cli

    if case == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    cuts, out, extra = test_cuts, tmp_path / "out", []
    if case == "max_duration":
        extra = ["--max-duration", "0"]
    elif case == "empty":
        cuts = tmp_path / "test_empty.jsonl.gz"
        with gzip.open(cuts, "wt"):
            pass
    elif case == "cuda":
        extra = ["--device", "cuda"]
    elif case == "out_is_file":
        out.write_text("")
    else:
        cuts = tmp_path / "test_missing.jsonl.gz"
    status = decode_cli.main(
        ["--model", str(codec_dirs["50hz"]), "--cuts", str(cuts), "--out-dir", str(out), "--no-progress", *extra]
    )
    err = capsys.readouterr().err
    assert status != 0 and message in err, err
    assert err.count("\n") == 1 and err.startswith("python -m fcodec.bin.decode: error: ")
    assert not out.is_dir()


def test_a_copied_decode_folder_refers_to_its_own_files(codecs, test_cuts, tmp_path):
    import shutil

    original = tmp_path / "a" / "exp" / "train_50hz" / "decode" / "test_set"
    first = decode_cuts(codecs["50hz"], test_cuts, original, "m", QUIET)
    assert first["num_failed"] == 0
    copy = tmp_path / "b" / "exp" / "train_50hz" / "decode" / "test_set"
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    gone = sorted((copy / decode_format.WAV_DIR).iterdir())[0]
    gone.unlink()  # in the copy only: the original's file is still there
    again = decode_cuts(codecs["50hz"], test_cuts, copy, "m", QUIET)
    assert again["num_failed"] == 0 and gone.is_file()  # the copy's own file was missing: decoded again
    decoded = decode_format.read_decode_dir(copy)
    for cut in decoded.recon_cuts.values():
        (source,) = cut.recording.sources
        assert source.source.startswith(str(copy)), source.source
    shutil.rmtree(tmp_path / "a")  # the copy stands alone
    assert all(cut.load_audio().size for cut in decode_format.read_decode_dir(copy).recon_cuts.values())
