"""A manifest is data: a ``command`` (or ``url``) audio source is refused, naming the cut, wherever fcodec reads
cuts or recordings (read_mono, manifest loading, the training dataset, stage 2), unless FCODEC_ALLOW_UNSAFE_SOURCES=1."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import AudioSource, CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from fcodec.data.audio import read_mono
from fcodec.data.cuts import CutsOptions, build_source
from fcodec.data.data_config import Source
from fcodec.data.dataset import CodecDataset
from fcodec.data.manifest_io import load_cuts
from fcodec.data.sources import ALLOW_ENV, REFUSED, UnsafeSourceError

SR = 16000


def command_recording(tmp_path: Path, rec_id: str = "evil") -> Recording:
    """A recording whose source, if run, writes ``tmp_path/pwned`` and then yields a real wav."""
    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(SR) / 10)).astype(np.float32), SR)
    good = Recording.from_file(wav, recording_id=rec_id)
    source = AudioSource(type="command", channels=[0], source=f"id > {tmp_path / 'pwned'}; cat {wav}")
    return Recording(
        id=rec_id, sources=[source], sampling_rate=SR, num_samples=good.num_samples, duration=good.duration
    )


def command_cuts(tmp_path: Path) -> CutSet:
    rec = command_recording(tmp_path)
    cut = rec.to_cut().with_id("en_evil")
    cut.supervisions = [
        SupervisionSegment(
            id="evil", recording_id=rec.id, start=0.0, duration=rec.duration, text="HELLO", language="en"
        )
    ]
    return CutSet.from_cuts([cut])


def test_read_mono_refuses_a_command_source_without_running_it(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    cut = command_cuts(tmp_path)[0]
    with pytest.raises(UnsafeSourceError, match=r"en_evil.*'command' refused.*FCODEC_ALLOW_UNSAFE_SOURCES=1"):
        read_mono(cut, SR)
    assert not (tmp_path / "pwned").exists()
    # allowed explicitly: lhotse runs it (which is why the default must refuse)
    monkeypatch.setenv(ALLOW_ENV, "1")
    assert read_mono(cut, SR).size == SR
    assert (tmp_path / "pwned").exists()


def test_loading_a_manifest_and_the_training_dataset_refuse_it(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    path = tmp_path / "cuts.jsonl.gz"
    command_cuts(tmp_path).to_file(path)
    with pytest.raises(UnsafeSourceError, match="en_evil"):
        load_cuts(path)
    with pytest.raises(UnsafeSourceError, match="en_evil"):
        CodecDataset()[CutSet.from_file(path)]
    url = Recording(
        id="remote",
        sources=[AudioSource(type="url", channels=[0], source="https://example.org/a.wav")],
        sampling_rate=SR,
        num_samples=SR,
        duration=1.0,
    )
    CutSet.from_cuts([url.to_cut()]).to_file(tmp_path / "url.jsonl.gz")
    with pytest.raises(UnsafeSourceError, match="'url' refused"):
        load_cuts(tmp_path / "url.jsonl.gz")
    assert not (tmp_path / "pwned").exists()


def test_stage2_lists_a_command_recording_as_bad_input_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    evil = command_recording(tmp_path, "evil")
    sf.write(tmp_path / "good.wav", (0.1 * np.sin(np.arange(SR) / 7)).astype(np.float32), SR)
    good = Recording.from_file(tmp_path / "good.wav", recording_id="good")
    RecordingSet.from_recordings([evil, good]).to_file(manifests / "c_recordings_train.jsonl.gz")
    SupervisionSet.from_segments(
        [
            SupervisionSegment(
                id=r.id, recording_id=r.id, start=0.0, duration=r.duration, text="HELLO THERE", language="en"
            )
            for r in (evil, good)
        ]
    ).to_file(manifests / "c_supervisions_train.jsonl.gz")
    source = Source(corpus="c", part="train", language="en", split="train")
    cuts, bad = build_source(source, manifests, CutsOptions(num_workers=1))
    assert [c.id for c in cuts] == ["en_good"]
    assert [(b.id, b.reason) for b in bad] == [("evil", REFUSED)] and "FCODEC_ALLOW_UNSAFE_SOURCES" in bad[0].detail
    assert not (tmp_path / "pwned").exists()
