"""Whisper checkpoints (fcodec.utils.whisper): a tiny random one loads, a bad one is a clear error, and fetching a
published one is atomic: only a complete file with the published sha256 lands at <name>.pt.

openai-whisper's URL table is pointed at local stand-ins (a file:// URL, a local http.server), so the real
download code runs: urllib, whisper's own sha256 check, our temporary folder and rename.
"""

import hashlib
import http.server
import logging
import threading

import pytest
import torch
import whisper

from fcodec.bin.fetch_whisper import fetch_whisper
from fcodec.bin.fetch_whisper import main as fetch_main
from fcodec.utils.whisper import download_whisper, load_whisper, make_tiny_whisper

NAME = "tiny-standin"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(bytes, sha256) of a tiny random Whisper checkpoint standing in for a published one."""
    path = make_tiny_whisper(tmp_path_factory.mktemp("published") / "tiny.pt", seed=3)
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def publish(monkeypatch, tmp_path, data: bytes, sha256: str) -> str:
    """Serve ``data`` at a file:// URL of whisper's shape (.../<sha256>/<name>.pt) under the name NAME."""
    folder = tmp_path / "server" / sha256
    folder.mkdir(parents=True)
    (folder / f"{NAME}.pt").write_bytes(data)
    url = (folder / f"{NAME}.pt").as_uri()
    monkeypatch.setitem(whisper._MODELS, NAME, url)
    return url


def test_a_download_lands_whole_and_verified_and_is_not_repeated(monkeypatch, tmp_path, checkpoint, caplog):
    data, sha = checkpoint
    publish(monkeypatch, tmp_path, data, sha)
    out = tmp_path / "models"
    # caplog.text holds every record of the test, and whether INFO records reach it depends on the root level that
    # earlier tests left (setup_logging sets INFO): set the level here, and clear between the calls
    caplog.set_level(logging.INFO)
    path = fetch_whisper(NAME, out)
    assert path == out / f"{NAME}.pt" and path.read_bytes() == data
    assert "downloading Whisper" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == [f"{NAME}.pt"]  # the temporary folder is gone
    assert load_whisper(path).dims.n_audio_state == 64
    # already there with the published checksum: kept, not downloaded again (the source is gone: it could not be)
    (tmp_path / "server" / sha / f"{NAME}.pt").unlink()
    caplog.clear()
    mtime = path.stat().st_mtime_ns
    assert fetch_whisper(NAME, out) == path
    assert "downloading" not in caplog.text and path.stat().st_mtime_ns == mtime
    # a name loads through the same download, into whisper's file name inside download_root
    publish(monkeypatch, tmp_path / "again", data, sha)
    model = load_whisper(NAME, download_root=str(tmp_path / "cache"))
    assert model.dims.n_text_state == 64 and (tmp_path / "cache" / f"{NAME}.pt").read_bytes() == data


def test_a_partial_file_from_an_interrupted_download_is_fetched_again(monkeypatch, tmp_path, checkpoint, caplog):
    data, sha = checkpoint
    publish(monkeypatch, tmp_path, data, sha)
    out = tmp_path / "models"
    out.mkdir()
    (out / f"{NAME}.pt").write_bytes(data[: len(data) // 3])  # what openai-whisper alone leaves when killed
    killed = out / f".{NAME}.pt.download-dead"  # what a killed download of ours leaves
    killed.mkdir()
    (killed / f"{NAME}.pt").write_bytes(data[:100])
    with caplog.at_level(logging.INFO):
        path = fetch_whisper(NAME, out)
    assert path.read_bytes() == data
    assert "sha256 is not the published one" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == [f"{NAME}.pt"]


def test_a_corrupt_download_fails_and_leaves_nothing(monkeypatch, tmp_path, checkpoint, capsys):
    data, sha = checkpoint
    publish(monkeypatch, tmp_path, data[:-10] + b"corrupted!", sha)  # the bytes do not match the URL's sha256
    out = tmp_path / "models"
    with pytest.raises(RuntimeError, match=f"{NAME}.*SHA256 checksum does not not match"):
        download_whisper(NAME, out, filename=f"{NAME}.pt")
    assert list(out.iterdir()) == []
    assert fetch_main([NAME, "--out-dir", str(out)]) == 1
    assert "fetch_whisper: Whisper model" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_a_connection_that_drops_half_way_leaves_no_file_and_nothing_is_in_place_meanwhile(
    monkeypatch, tmp_path, checkpoint
):
    data, sha = checkpoint
    out = tmp_path / "models"
    seen_during_download = []

    class DroppingHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            # half the bytes are out: the client must have them in its temporary folder, not at <name>.pt
            seen_during_download.append(sorted(p.name for p in out.iterdir()))
            self.close_connection = True  # the connection drops

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DroppingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setitem(whisper._MODELS, NAME, f"http://127.0.0.1:{server.server_port}/models/{sha}/{NAME}.pt")
        with pytest.raises(RuntimeError, match="checksum"):
            fetch_whisper(NAME, out)
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen_during_download) == 1 and len(seen_during_download[0]) == 1
    assert seen_during_download[0][0].startswith(f".{NAME}.pt.download-")
    assert list(out.iterdir()) == []


def test_no_network_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(whisper._MODELS, NAME, (tmp_path / "nowhere" / ("0" * 64) / f"{NAME}.pt").as_uri())
    with pytest.raises(RuntimeError, match=f"could not be downloaded.*Copy {NAME}.pt into"):
        fetch_whisper(NAME, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_tiny_random_seeds_give_different_judges(tmp_path):
    first = fetch_whisper("tiny-random", tmp_path / "a").read_bytes()
    assert fetch_whisper("tiny-random", tmp_path / "b").read_bytes() == first
    second = fetch_whisper("tiny-random-seed1", tmp_path / "c").read_bytes()
    assert second != first
    # the seed in the name: a second random judge with a name of its own
    named = fetch_whisper("tiny-random-seed1", tmp_path / "d")
    assert named == tmp_path / "d" / "tiny-random-seed1.pt" and named.read_bytes() == second
    assert fetch_main(["tiny-random-seed0", "--out-dir", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "tiny-random-seed0.pt").read_bytes() == first


def test_published_sizes_match_the_real_checkpoint_and_load_as_random_stand_ins(real_whisper_path, tmp_path):
    import torch
    from whisper.model import ModelDimensions, Whisper

    from fcodec.utils.whisper import PUBLISHED_DIMS

    # the table gives random stand-ins the arithmetic of the published models (bench_train --whisper small)
    real = torch.load(real_whisper_path, map_location="cpu", weights_only=True)
    assert real["dims"] == PUBLISHED_DIMS["base"]
    standin = Whisper(ModelDimensions(**PUBLISHED_DIMS["base"])).state_dict()
    assert {k: v.shape for k, v in standin.items()} == {k: v.shape for k, v in real["model_state_dict"].items()}
    model = load_whisper(make_tiny_whisper(tmp_path / "tiny.pt", **PUBLISHED_DIMS["tiny"]), "cpu")
    assert model.is_multilingual and model.num_languages == 99


def test_tiny_whisper_is_multilingual_and_loads(tiny_whisper_path):
    model = load_whisper(tiny_whisper_path)
    assert model.is_multilingual and model.dims.n_mels == 80
    for name, tensor in model.state_dict().items():
        assert torch.isfinite(tensor).all() and tensor.abs().max() < 100, name  # nothing left uninitialised


def test_unknown_whisper_name_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="neither a file nor one of the published names"):
        load_whisper("no-such-model")


def test_a_corrupt_whisper_checkpoint_is_an_error_naming_the_file(tmp_path, tiny_whisper_path):
    broken = tmp_path / "small.pt"
    broken.write_bytes(tiny_whisper_path.read_bytes()[:1000])  # a download cut short
    with pytest.raises(RuntimeError, match=r"cannot load the Whisper checkpoint .*small\.pt.*fetch it again"):
        load_whisper(broken)
