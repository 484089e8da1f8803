"""Stage 3's NISQA weights: only the published file lands at <out-dir>/nisqa.tar, atomically, from a local file,
the shared copy or a download; offline without a copy is one line and no file."""

import hashlib

import pytest

from fcodec.bin import fetch_mos
from fcodec.metrics import nisqa


def test_a_local_copy_is_checked_and_copied(tmp_path, real_nisqa_path, monkeypatch, capsys):
    out = tmp_path / "models" / "mos"
    assert fetch_mos.main(["nisqa", "--out-dir", str(out), "--from", str(real_nisqa_path)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "nisqa.tar")
    assert (out / "nisqa.tar").read_bytes() == real_nisqa_path.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["nisqa.tar"]  # no temporary file left
    # the shared copy beside the repository serves without --from, even offline
    (out / "nisqa.tar").unlink()
    assert fetch_mos.fetch_nisqa(out, offline=True) == out / "nisqa.tar"
    # another file is refused, naming it, and nothing is written
    other = tmp_path / "other.tar"
    other.write_bytes(b"weights of something else")
    (out / "nisqa.tar").unlink()
    assert fetch_mos.main(["nisqa", "--out-dir", str(out), "--from", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fetch_mos: ") and str(other) in err and "not the published NISQA" in err
    assert list(out.iterdir()) == []


def test_offline_without_a_copy_is_one_line_and_no_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FCODEC_SHARED", str(tmp_path / "empty_shared"))  # a checkout without shared/
    (tmp_path / "empty_shared").mkdir()
    out = tmp_path / "mos"
    assert fetch_mos.main(["nisqa", "--out-dir", str(out), "--offline"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "the NISQA judge will be missing" in captured.err
    assert not (out / "nisqa.tar").exists()


def test_a_download_is_verified_and_atomic(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FCODEC_SHARED", str(tmp_path / "empty_shared"))
    (tmp_path / "empty_shared").mkdir()
    published = tmp_path / "server" / "nisqa.tar"
    published.parent.mkdir()
    published.write_bytes(b"stand-in weights " * 100)
    monkeypatch.setattr(nisqa, "NISQA_URL", published.as_uri())
    monkeypatch.setattr(nisqa, "NISQA_SHA256", hashlib.sha256(published.read_bytes()).hexdigest())
    out = tmp_path / "mos"
    assert fetch_mos.fetch_nisqa(out) == out / "nisqa.tar"
    assert (out / "nisqa.tar").read_bytes() == published.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["nisqa.tar"]
    # a corrupted download fails and leaves nothing
    (out / "nisqa.tar").unlink()
    published.write_bytes(b"corrupted")
    assert fetch_mos.main(["nisqa", "--out-dir", str(out)]) == 1
    assert "SHA256 checksum" in capsys.readouterr().err and list(out.iterdir()) == []
    # no network: a clear error saying what to do
    monkeypatch.setattr(nisqa, "NISQA_URL", (tmp_path / "nowhere" / "nisqa.tar").as_uri())
    with pytest.raises(RuntimeError, match="could not be downloaded.*--from FILE"):
        fetch_mos.fetch_nisqa(out)


@pytest.mark.parametrize("target", ["a_file", "under_a_file"])
def test_a_target_that_cannot_be_written_is_one_line(tmp_path, real_nisqa_path, capsys, target):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    out = blocker if target == "a_file" else blocker / "mos"
    assert fetch_mos.main(["nisqa", "--out-dir", str(out), "--from", str(real_nisqa_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m fcodec.bin.fetch_mos: error: ") and "blocker" in err
    assert blocker.read_text() == "a file where a folder should be"
