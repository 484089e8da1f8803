"""Fixtures for the loss tests: loaded Whisper models, a small bilingual BPE model, real clips with transcripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

# LibriSpeech dev-clean / MAGICDATA transcripts of clips in ../shared/audio, as the corpora's normalised text
# (LibriSpeech: upper case, no punctuation, numbers in words; Mandarin: characters, no punctuation).
REAL_CLIPS = {
    "en_84-121123-0001": (
        "librispeech-dev-clean/84/84-121123-0001.wav",
        "en",
        "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED BENEATH AN EXTRAORDINARY WEIGHT",
    ),
    "en_84-121123-0012": (
        "librispeech-dev-clean/84/84-121123-0012.wav",
        "en",
        "THE OLD MAN'S EYES REMAINED FIXED ON THE DOOR",
    ),
    "en_84-121123-0019": (
        "librispeech-dev-clean/84/84-121123-0019.wav",
        "en",
        "THE OLD MAN MADE A SIGN IN THE AFFIRMATIVE",
    ),
    "en_84-121123-0022": (
        "librispeech-dev-clean/84/84-121123-0022.wav",
        "en",
        "THE TWO DOCTORS THEREFORE ENTERED THE ROOM ALONE",
    ),
    "zh_38_5731_20170914195805": (
        "magicdata-zh-dev-set/38_5731_20170914195805.wav",
        "zh",
        "我们这下了一整天的雨雨还在继续下你们哪里下雨了吗",
    ),
}

BILINGUAL_TEXT = [
    "THE OLD MAN MADE A SIGN IN THE AFFIRMATIVE",
    "THE TWO DOCTORS THEREFORE ENTERED THE ROOM ALONE",
    "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED",
    "I ONLY WISH TO BE ALONE YOU WILL EXCUSE ME",
    "我们这下了一整天的雨",
    "雨还在继续下你们哪里下雨了吗",
    "今天天气很好我们去公园散步吧",
    "这是一个双语的测试句子",
]


def load_clip(audio_dir: Path, relative: str) -> torch.Tensor:
    audio, rate = sf.read(audio_dir / relative, dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    return torch.from_numpy(np.ascontiguousarray(audio))


def pad_batch(clips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(c) for c in clips])
    batch = torch.zeros(len(clips), int(lengths.max()))
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
    return batch, lengths


@pytest.fixture(scope="session")
def tiny_whisper(tiny_whisper_path):
    """Shared by many tests: frozen here, so no test can leave gradients or training mode on it for another."""
    from fcodec.utils.whisper import load_whisper

    return load_whisper(tiny_whisper_path).requires_grad_(False)


@pytest.fixture(scope="session")
def real_whisper(real_whisper_path):
    from fcodec.utils.whisper import load_whisper

    return load_whisper(real_whisper_path).requires_grad_(False)


@pytest.fixture(scope="session")
def real_clips(real_audio_dir):
    """{cut_id: (16 kHz audio, language, transcript)} for the clips in REAL_CLIPS."""
    return {cut_id: (load_clip(real_audio_dir, path), lang, text) for cut_id, (path, lang, text) in REAL_CLIPS.items()}


def _train_bpe(folder: Path, icefall_layout: bool) -> Path:
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "text").write_text("\n".join(BILINGUAL_TEXT) + "\n", encoding="utf-8")
    extra = dict(user_defined_symbols=["<blk>", "<sos/eos>"], unk_id=2, bos_id=-1, eos_id=-1) if icefall_layout else {}
    spm.SentencePieceTrainer.train(
        input=str(folder / "text"),
        model_prefix=str(folder / "bpe"),
        vocab_size=80,
        model_type="bpe",
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
        **extra,
    )
    return folder / "bpe.model"


@pytest.fixture(scope="session")
def bpe_model(tmp_path_factory) -> Path:
    """A sentencepiece BPE model in icefall's layout (<blk> = 0, <sos/eos> = 1, <unk> = 2)."""
    return _train_bpe(tmp_path_factory.mktemp("lang_bpe_icefall"), icefall_layout=True)


@pytest.fixture(scope="session")
def bpe_model_plain(tmp_path_factory) -> Path:
    """A sentencepiece BPE model with sentencepiece's default layout (no blank piece)."""
    return _train_bpe(tmp_path_factory.mktemp("lang_bpe_plain"), icefall_layout=False)
