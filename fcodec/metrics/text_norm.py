"""Scoring text normalisation and the units errors are counted in.

The same function runs on the ground truth, the transcript of the original and the transcript of the
reconstruction, so only real differences in what was said count as errors.

English (``en``): Whisper's ``EnglishTextNormalizer`` (lower case, punctuation removed, spelled-out numbers and
British spellings standardised: "five" and "5" both become "5"); words are the units (WER). Tokens with no
letter or digit (a lone "." the normaliser leaves from "...") are dropped.

Chinese (``zh``):
  1. NFKC, which folds full-width letters, digits and punctuation to their ASCII forms;
  2. Traditional -> Simplified with OpenCC ``t2s`` (Whisper often answers in Traditional script);
     steps 1 and 2 are the data side's (:mod:`fcodec.data.text_norm`), so references and transcripts fold alike;
  3. Arabic digits -> Chinese numerals (:mod:`fcodec.metrics.zh_numbers`; AISHELL writes numbers as spoken);
  4. Whisper's ``BasicTextNormalizer``: lower case, bracketed asides ("(笑)", "[音乐]") and every punctuation
     or symbol character removed;
  5. spaces removed, except one space between two Latin words.
  Units are characters (CER), except that a run of Latin letters/digits (an English word inside Chinese,
  "iphone") is one unit: spelling it letter by letter would make one wrong English word cost five errors.

Any other language falls back to ``BasicTextNormalizer`` and whitespace-separated words.
"""

from __future__ import annotations

import functools
import re
from typing import List

from fcodec.data.text_norm import to_halfwidth, to_simplified
from fcodec.metrics.zh_numbers import arabic_to_chinese

CHAR_LANGUAGES = frozenset({"zh"})

# A Latin word inside Chinese text: letters with or without diacritics, digits, apostrophes inside the word.
_LATIN_WORD = r"[0-9a-z\u00c0-\u024f]+(?:'[0-9a-z\u00c0-\u024f]+)*"
_ZH_UNIT = re.compile(_LATIN_WORD + r"|\S")
_LATIN_UNIT = re.compile(_LATIN_WORD + "$")


@functools.lru_cache(maxsize=None)
def _english_normalizer():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


@functools.lru_cache(maxsize=None)
def _basic_normalizer():
    from whisper.normalizers import BasicTextNormalizer

    return BasicTextNormalizer()


def unit_name(language: str) -> str:
    """'char' for languages scored by characters (CER), 'word' otherwise (WER).

    Parameters
    ----------
    language : str
        Language tag: ``zh`` (characters, CER), ``en`` (words, WER); any other tag is scored by words with
        Whisper's basic normaliser.

    Returns
    -------
    str
        ``"char"`` or ``"word"``.
    """
    return "char" if language in CHAR_LANGUAGES else "word"


def error_rate_name(language: str) -> str:
    """``"CER"`` for languages scored by characters, else ``"WER"`` (see ``unit_name``)."""
    return "CER" if unit_name(language) == "char" else "WER"


def normalize_chinese(text: str) -> str:
    """Steps 1-5 of the module docstring's Chinese normalisation.

    Parameters
    ----------
    text : str
        Raw Chinese text (a reference or a transcript).

    Returns
    -------
    str
        Simplified, half-width, digits as Chinese numerals, no punctuation, spaces only between Latin words.
    """
    text = to_simplified(to_halfwidth(text))
    text = arabic_to_chinese(text)
    text = _basic_normalizer()(text)
    units = _ZH_UNIT.findall(text)
    out: List[str] = []
    for unit in units:
        # keep a space only where two Latin words meet, so "iphone pro" stays two words
        if out and _LATIN_UNIT.match(unit) and _LATIN_UNIT.match(out[-1]):
            out.append(" ")
        out.append(unit)
    return "".join(out)


def normalize_text(text: str, language: str) -> str:
    """The normalised form of ``text`` for scoring in ``language`` ('zh', 'en', anything else).

    Parameters
    ----------
    text : str
        A reference or a transcript.
    language : str
        Language tag: ``zh`` (characters, CER), ``en`` (words, WER); any other tag is scored by words with
        Whisper's basic normaliser.

    Returns
    -------
    str
        The normalised text (see the module docstring).
    """
    if language == "zh":
        return normalize_chinese(text)
    if language == "en":
        # the normaliser leaves a lone "." for "..." (its decimal-point rule): a word needs a letter or digit
        return " ".join(w for w in _english_normalizer()(text).split() if any(c.isalnum() for c in w))
    return " ".join(_basic_normalizer()(text).split())


def text_units(normalized: str, language: str) -> List[str]:
    """Split an already normalised text into the units errors are counted in.

    Parameters
    ----------
    normalized : str
        Output of ``normalize_text`` for the same language.
    language : str
        Language tag: ``zh`` (characters, CER), ``en`` (words, WER); any other tag is scored by words with
        Whisper's basic normaliser.

    Returns
    -------
    list of str
        Characters (a run of Latin letters/digits counting as one unit) for ``zh``; else words.
    """
    if unit_name(language) == "char":
        return _ZH_UNIT.findall(normalized)
    return normalized.split()


def normalize_to_units(text: str, language: str) -> List[str]:
    """``text_units(normalize_text(text, language), language)``: the units of a raw text, ready for scoring."""
    return text_units(normalize_text(text, language), language)
