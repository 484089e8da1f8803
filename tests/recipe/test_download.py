"""Stage 0 of the real recipe downloads with lhotse's own downloaders. Here they fetch from a local web server
that serves the synthetic corpus packed the way OpenSLR packs AISHELL-1 (resource 33) and LibriSpeech
(resource 12), so the download, extraction and layout check run for real without the internet."""

import functools
import http.server
import shutil
import tarfile
import threading
from pathlib import Path

import pytest

from fcodec.data import corpora
from fcodec.data.synth.mini_corpus import MiniCorpusSpec, build_mini_corpus
from tests.data.helpers import LIBRISPEECH_PARTS

TINY = MiniCorpusSpec(seed=2, train_speakers=1, eval_speakers=1, train_utts_per_speaker=2, eval_utts_per_speaker=1)


def _pack_like_openslr(corpus: Path, site: Path) -> None:
    aishell = corpus / "aishell" / "data_aishell"
    (site / "33").mkdir(parents=True)
    (site / "12").mkdir()
    packed = site / "packing" / "data_aishell"
    (packed / "wav").mkdir(parents=True)
    for speaker_dir in sorted((aishell / "wav").glob("*/*")):  # one archive per speaker: <part>/<speaker>/*.wav
        with tarfile.open(packed / "wav" / f"{speaker_dir.name}.tar.gz", "w:gz") as tar:
            tar.add(speaker_dir, arcname=f"{speaker_dir.parent.name}/{speaker_dir.name}")
    with tarfile.open(site / "33" / "data_aishell.tgz", "w:gz") as tar:
        tar.add(aishell / "transcript", arcname="data_aishell/transcript")
        tar.add(packed / "wav", arcname="data_aishell/wav")
    resource = site / "packing" / "resource_aishell"
    resource.mkdir()
    (resource / "speaker.info").write_text("S0002 F\n")
    with tarfile.open(site / "33" / "resource_aishell.tgz", "w:gz") as tar:
        tar.add(resource, arcname="resource_aishell")
    for part in LIBRISPEECH_PARTS:
        with tarfile.open(site / "12" / f"{part}.tar.gz", "w:gz") as tar:
            tar.add(corpus / "LibriSpeech" / part, arcname=f"LibriSpeech/{part}")


@pytest.fixture
def openslr_mirror(tmp_path, monkeypatch):
    corpus, site = tmp_path / "corpus", tmp_path / "site"
    build_mini_corpus(corpus, TINY)
    _pack_like_openslr(corpus, site)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", corpus, requests
    finally:
        server.shutdown()


def test_stage_0_downloads_what_is_missing_and_then_nothing(openslr_mirror, tmp_path):
    url, corpus, requests = openslr_mirror
    dl = tmp_path / "download"
    corpora.fetch("aishell", dl / "aishell", dl, LIBRISPEECH_PARTS, given=False, base_url=url)
    corpora.fetch("librispeech", dl / "LibriSpeech", dl, LIBRISPEECH_PARTS, given=False, base_url=url)
    assert sorted(r.split("/", 2)[2] for r in requests) == sorted(
        ["data_aishell.tgz", "resource_aishell.tgz"] + [f"{p}.tar.gz" for p in LIBRISPEECH_PARTS]
    )
    for original in [*(corpus / "aishell").rglob("*.wav"), *(corpus / "LibriSpeech").rglob("*.flac")]:
        downloaded = dl / original.relative_to(corpus)
        assert downloaded.read_bytes() == original.read_bytes()

    # The corpora are there now: nothing is fetched again.
    count = len(requests)
    corpora.fetch("aishell", dl / "aishell", dl, LIBRISPEECH_PARTS, given=False, base_url=url)
    corpora.fetch("librispeech", dl / "LibriSpeech", dl, LIBRISPEECH_PARTS, given=False, base_url=url)
    assert len(requests) == count

    # One LibriSpeech part more: only that one is fetched.
    shutil.rmtree(dl / "LibriSpeech" / "test-clean")
    corpora.fetch("librispeech", dl / "LibriSpeech", dl, LIBRISPEECH_PARTS, given=False, base_url=url)
    assert [r.split("/", 2)[2] for r in requests[count:]] == ["test-clean.tar.gz"]


def test_a_failed_download_says_what_to_do(tmp_path):
    with pytest.raises(
        corpora.LayoutError,
        match=r"downloading aishell from http://127\.0\.0\.1:9/x .*failed.*"
        r"--aishell-dir",
    ):
        corpora.fetch("aishell", tmp_path / "aishell", tmp_path, [], given=False, base_url="http://127.0.0.1:9/x")
