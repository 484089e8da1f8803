"""Tiny random codecs saved in the published format, and small test cut sets (with broken cuts) for the decoder."""

import math
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import soundfile as sf
import torch

from fcodec.models import FocalCodec, configs, grow

SR = 16000


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest single-threaded (and a busy 2-core runner makes extra threads wait)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def speechlike(num_samples: int, seed: int) -> np.ndarray:
    """Deterministic sines plus noise at amplitude ~0.3, float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / SR
    freqs = np.array([110.0, 440.0, 1234.0, 3100.0])[:, None]
    sines = np.sin(2 * math.pi * freqs * t + rng.uniform(0, 6.28, (4, 1))).mean(axis=0)
    return (0.3 * sines + 0.05 * rng.standard_normal(num_samples)).astype(np.float32)


@pytest.fixture(scope="session")
def codec_dirs(tmp_path_factory) -> Dict[str, Path]:
    """Exported tiny models: causal 50 Hz (as trained at 50 Hz), grown 25 Hz and 12.5 Hz (as the later runs), non-causal."""
    root = tmp_path_factory.mktemp("codecs")
    torch.manual_seed(0)
    base = FocalCodec(**configs.tiny_causal_config()).eval()
    g25, _ = grow(base, seed=1)
    g12, _ = grow(g25, seed=2)
    torch.manual_seed(0)
    noncausal = FocalCodec(**configs.tiny_noncausal_config((2, 1))).eval()
    dirs = {}
    for name, model in (("50hz", base), ("25hz", g25), ("12hz", g12), ("noncausal", noncausal)):
        model.save_pretrained(root / name)
        dirs[name] = root / name
    return dirs


@pytest.fixture(scope="session")
def codecs(codec_dirs) -> Dict[str, FocalCodec]:
    return {name: FocalCodec.from_pretrained(path).eval() for name, path in codec_dirs.items()}


def write_cuts(root: Path, lengths: List[int], bad: bool = False, seed: int = 0) -> Path:
    """A CutSet of speech-like wavs (zh/en ids and supervisions, like stage 2's test sets); with ``bad``, also a
    missing file, a corrupt one, a NaN file, a 0-sample file and a 50 ms one."""
    from lhotse import CutSet, Recording, SupervisionSegment
    from lhotse.cut import MonoCut

    wav_dir = root / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    cuts = []

    def add(cut_id: str, audio: np.ndarray, language: str, recording=None) -> None:
        path = wav_dir / f"{cut_id}.wav"
        if recording is None:
            sf.write(path, audio, SR, subtype="FLOAT")
            recording = Recording.from_file(path, recording_id=cut_id)
        sup = SupervisionSegment(
            id=cut_id,
            recording_id=cut_id,
            start=0.0,
            duration=recording.duration,
            text="你好世界" if language == "zh" else "HELLO WORLD",
            language=language,
        )
        cuts.append(
            MonoCut(
                id=f"{language}_{cut_id}",
                start=0.0,
                duration=recording.duration,
                channel=0,
                recording=recording,
                supervisions=[sup],
            )
        )

    for i, n in enumerate(lengths):
        add(f"utt{i:02d}", speechlike(n, seed + i), "zh" if i % 2 else "en")
    if bad:
        add("nan", np.full(8000, np.nan, dtype=np.float32), "en")
        add("short", speechlike(800, 99), "zh")  # 50 ms: less than one 80 ms chunk
        sf.write(wav_dir / "gone.wav", speechlike(6000, 98), SR)
        gone = Recording.from_file(wav_dir / "gone.wav", recording_id="gone")
        (wav_dir / "gone.wav").unlink()
        add("gone", np.zeros(0, np.float32), "en", recording=gone)
        sf.write(wav_dir / "corrupt.wav", speechlike(6000, 97), SR)
        corrupt = Recording.from_file(wav_dir / "corrupt.wav", recording_id="corrupt")
        (wav_dir / "corrupt.wav").write_bytes(b"RIFF but not really a wav file" * 10)
        add("corrupt", np.zeros(0, np.float32), "zh", recording=corrupt)
        sf.write(wav_dir / "empty.wav", np.zeros(0, np.float32), SR)
        empty = Recording.from_file(wav_dir / "empty.wav", recording_id="empty")
        add("empty", np.zeros(0, np.float32), "zh", recording=empty)
    path = root / "test_set.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


# lengths chosen off the chunk grid (1280 samples) and off the hop grid (320), one exactly on it
LENGTHS = [16000, 12345, 9001, 20480, 7777, 30011]


@pytest.fixture(scope="session")
def test_cuts(tmp_path_factory) -> Path:
    return write_cuts(tmp_path_factory.mktemp("cuts"), LENGTHS)


@pytest.fixture(scope="session")
def bad_test_cuts(tmp_path_factory) -> Path:
    return write_cuts(tmp_path_factory.mktemp("badcuts"), LENGTHS[:3], bad=True, seed=10)
