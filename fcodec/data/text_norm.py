"""Transcript normalisation for Chinese (AISHELL style) and English (LibriSpeech style).

Stage 2 normalises every supervision with :func:`normalize_text`; scoring can apply the same functions to
references and ASR hypotheses, so both sides are compared in one form. The building blocks are public so a
scorer can combine them differently (e.g. drop every space before a character error rate).

Chinese, as lhotse writes AISHELL-1 (``prepare_aishell``: full-width letters to ASCII, upper case, no spaces):
  * Unicode NFKC, which turns full-width letters, digits and punctuation into their half-width forms;
  * Traditional characters into Simplified ones (OpenCC ``t2s``), so Whisper output in either script compares;
  * punctuation removed, Latin letters upper-cased;
  * every space removed, as lhotse does for AISHELL (whose transcripts are word-segmented with spaces, also
    between the letters of an acronym: "ａ ｂ ｃ" -> "ABC"); character error rates do not depend on spaces.

English, as LibriSpeech transcripts are written: upper case, letters, digits and apostrophes only, single
spaces (hyphens and other punctuation become spaces; "don't" keeps its apostrophe).
"""

from __future__ import annotations

import functools
import re
import unicodedata

LANGUAGES = ("zh", "en")

_SPACES = re.compile(r"\s+")
_EN_NOT_WORD = re.compile(r"[^A-Z0-9' ]+")
_EN_STRAY_APOSTROPHE = re.compile(r"(?<![A-Z0-9])'|'(?![A-Z0-9])")


def to_halfwidth(text: str) -> str:
    """Full-width ASCII (ＡＢＣ１２３，) and other compatibility forms to their plain forms (NFKC)."""
    return unicodedata.normalize("NFKC", text)


@functools.lru_cache(maxsize=1)
def _t2s_converter():
    try:
        import opencc
    except ImportError as exc:  # pragma: no cover - opencc is installed with fcodec
        raise ImportError(
            "Traditional -> Simplified conversion needs OpenCC: pip install opencc (or fcodec[eval])"
        ) from exc
    return opencc.OpenCC("t2s")


# a space with something other than a Latin letter, digit or apostrophe on either side
_SPACE_NOT_BETWEEN_LATIN = re.compile(r"(?<![A-Z0-9'])\s+|\s+(?![A-Z0-9'])")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters to Simplified ones (OpenCC t2s); other characters are unchanged."""
    return _t2s_converter().convert(text)


def remove_punctuation(text: str, keep: str = "") -> str:
    """Replace every Unicode punctuation or symbol character (categories P* and S*) by a space, except ``keep``."""
    return "".join(" " if ch not in keep and unicodedata.category(ch)[0] in "PS" else ch for ch in text)


def collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def normalize_zh(text: str, simplified: bool = True) -> str:
    """AISHELL-style Chinese: Simplified, no punctuation, upper-case Latin, no spaces except one between two
    Latin words ("IPHONE PRO" stays two words: scoring splits Latin runs into words, and so does the BPE)."""
    text = to_halfwidth(text)
    if simplified:
        text = to_simplified(text)
    text = remove_punctuation(text, keep="'").upper()
    text = _EN_STRAY_APOSTROPHE.sub(" ", text)
    return _SPACE_NOT_BETWEEN_LATIN.sub("", collapse_spaces(text))


def normalize_en(text: str) -> str:
    """LibriSpeech-style English: upper case, A-Z 0-9 and apostrophes inside words, single spaces."""
    text = to_halfwidth(text).upper().replace("’", "'").replace("‘", "'")
    text = _EN_NOT_WORD.sub(" ", text)
    text = _EN_STRAY_APOSTROPHE.sub(" ", text)
    return collapse_spaces(text)


def normalize_text(text: str, language: str) -> str:
    """Normalise ``text`` for ``language`` ("zh" or "en")."""
    if language == "zh":
        return normalize_zh(text)
    if language == "en":
        return normalize_en(text)
    raise ValueError(f"no text normalisation for language {language!r}; known: {', '.join(LANGUAGES)}")
