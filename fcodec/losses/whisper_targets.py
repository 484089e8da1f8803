"""Target token sequences for the Whisper ASR loss: text formatting, tokenisation, teacher-forcing tensors.

Formatting matters a lot, measured with the real multilingual Whisper base on real LibriSpeech and MAGICDATA
speech (tests/losses/test_whisper_real.py keeps these facts checked). Mean per-token cross-entropy of the correct
transcript of six LibriSpeech dev-clean clips, pad-to-30 s:

    "BUT IN LESS THAN FIVE MINUTES ..."      (LibriSpeech upper case)          1.30, ~2x the tokens
    " BUT IN LESS THAN FIVE MINUTES ..."     (upper case, leading space)       1.04
    "But in less than five minutes ..."      (no leading space)                1.02
    " but in less than five minutes ..."     (lower case)                      0.41
    " But in less than five minutes ..."     (sentence case)                   0.40
    " But in less than five minutes ... ."   (sentence case, final period)     0.21

Upper case doubles the token count and spends the loss on spelling capitals; without the leading space every
clip starts on a token Whisper never emits first; without a final period, <|endoftext|> is predicted where
Whisper expects "." (a penalty no change to the audio can remove). For Mandarin (MAGICDATA clip): plain
characters with no spaces and no leading space 0.20; a final "。" 0.32; a leading space 0.54; spaces between
characters (AISHELL's raw transcripts) 0.82 with ~2x the tokens; Traditional script 0.42.
So :func:`format_target` turns normalised corpus text into what Whisper itself writes.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from typing import Optional, Sequence

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100

_CJK = r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_PRONOUN_I = re.compile(r"\bi\b")  # "i", and the i of "i'm", "i'll", "i've"


def _has_cased_letters(text: str, upper: bool) -> bool:
    return any(ch.isupper() if upper else ch.islower() for ch in text)


def format_target(text: str, language: str) -> str:
    """Corpus transcript -> the form Whisper writes (see the module docstring for the measurements).

    Chinese: whitespace between CJK characters removed, no leading space, no added punctuation. Other
    languages: all-caps text (LibriSpeech) is lower-cased; then the first letter and the pronoun "i" are
    capitalised (mixed-case text is left as it is); a leading space; a final period unless it ends in punctuation.
    """
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    if not text:
        return ""
    if language in ("zh", "yue", "ja"):
        return _SPACE_BETWEEN_CJK.sub("", text)
    if not _has_cased_letters(text, upper=False):
        text = text.lower()
    if not _has_cased_letters(text, upper=True):
        text = _PRONOUN_I.sub("I", text)
        first = next((i for i, ch in enumerate(text) if ch.isalpha()), None)
        if first is not None:
            text = text[:first] + text[first].upper() + text[first + 1 :]
    if unicodedata.category(text[-1])[0] != "P":
        text += "."
    return " " + text


@lru_cache(maxsize=None)
def whisper_tokenizer(multilingual: bool, num_languages: int, language: Optional[str]):
    from whisper.tokenizer import get_tokenizer

    return get_tokenizer(multilingual, num_languages=num_languages, language=language, task="transcribe")


class WhisperTargets:
    """Builds ``<|startoftranscript|><|lang|><|transcribe|><|notimestamps|> text <|endoftext|>`` for a model."""

    def __init__(self, multilingual: bool, num_languages: int, n_text_ctx: int):
        self.multilingual, self.num_languages, self.n_text_ctx = multilingual, num_languages, n_text_ctx

    @classmethod
    def for_model(cls, model) -> "WhisperTargets":
        return cls(model.is_multilingual, model.num_languages, model.dims.n_text_ctx)

    def tokenizer(self, language: str):
        from whisper.tokenizer import LANGUAGES

        if self.multilingual and language not in LANGUAGES:
            raise ValueError(f"language {language!r} is not one of Whisper's language codes")
        if not self.multilingual and language != "en":
            raise ValueError(f"an English-only Whisper cannot score language {language!r}")
        return whisper_tokenizer(self.multilingual, self.num_languages, language if self.multilingual else None)

    def encode(self, text: str, language: str, format_text: bool = True) -> list[int]:
        """Text tokens (no special tokens) of ``text``, formatted by :func:`format_target` unless told not to."""
        return self.tokenizer(language).encode(format_target(text, language) if format_text else text)

    def sequence(self, text_tokens: Sequence[int], language: str, name: str = "") -> list[int]:
        tokenizer = self.tokenizer(language)
        prefix = list(tokenizer.sot_sequence_including_notimestamps)
        room = self.n_text_ctx + 1 - len(prefix) - 1  # the decoder sees all but the last token: n_text_ctx at most
        if len(text_tokens) > room:
            logger.warning(
                "Whisper target of %s has %d tokens; keeping the first %d (the decoder's context)",
                name or "an utterance",
                len(text_tokens),
                room,
            )
            text_tokens = text_tokens[:room]
        return prefix + list(text_tokens) + [tokenizer.eot]

    def prefix_length(self, language: str) -> int:
        return len(self.tokenizer(language).sot_sequence_including_notimestamps)

    def batch(
        self, sequences: Sequence[Sequence[int]], prefix_lengths: Sequence[int], device: torch.device
    ) -> tuple[Tensor, Tensor]:
        """Teacher forcing: decoder inputs (B, T) and targets (B, T), targets IGNORE_INDEX on prefix and padding.

        The first scored position predicts the first text token from <|notimestamps|>; the last predicts
        <|endoftext|>.
        """
        width = max(len(s) for s in sequences) - 1
        inputs = torch.full((len(sequences), width), sequences[0][-1], dtype=torch.long)  # pad with <|endoftext|>
        targets = torch.full((len(sequences), width), IGNORE_INDEX, dtype=torch.long)
        for i, (seq, prefix) in enumerate(zip(sequences, prefix_lengths)):
            seq = torch.as_tensor(seq, dtype=torch.long)
            inputs[i, : len(seq) - 1] = seq[:-1]
            targets[i, prefix - 1 : len(seq) - 1] = seq[prefix:]
        if torch.device(device).type == "cuda":  # from page-locked memory the copies queue without a host sync
            return inputs.pin_memory().to(device, non_blocking=True), targets.pin_memory().to(device, non_blocking=True)
        return inputs.to(device), targets.to(device)
