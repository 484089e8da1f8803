"""Reading ``<utterance id> <text>`` transcript files (AISHELL's transcript, LibriSpeech's ``*.trans.txt``, Kaldi's
``text``) where every faulty line is bad input, not a crash.

A line whose bytes are not UTF-8 (a Latin-1 ``0xE9`` in a LibriSpeech line), a line with an id and no text, and
a text holding control characters are each reported with the file and the line number; every other line is
read. The id of a line that does not decode is read with the bad bytes replaced, so the report can name it.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from typing import List, Tuple

from fcodec.data.audio_check import CONTROL_CHARACTERS, EMPTY_TRANSCRIPT, UNDECODABLE_TEXT


@dataclass(frozen=True)
class TranscriptLine:
    uid: str
    text: str
    line: str  # the whole line, stripped
    number: int  # 1-based line number in the file


@dataclass(frozen=True)
class TranscriptFault:
    uid: str
    reason: str  # one of fcodec.data.audio_check's reasons
    detail: str  # names the file and the line


def control_characters(text: str) -> List[str]:
    """The control characters (Unicode category Cc, tab aside) in ``text``, as escapes like ``'\\x07'``."""
    return sorted({repr(ch)[1:-1] for ch in text if ch != "\t" and unicodedata.category(ch) == "Cc"})


def where(path: os.PathLike, number: int) -> str:
    return f"{os.fspath(path)} line {number}"


def read_transcript(path: os.PathLike) -> Tuple[List[TranscriptLine], List[TranscriptFault]]:
    """The usable lines of ``path`` and the faults of the others (blank lines are neither)."""
    lines: List[TranscriptLine] = []
    faults: List[TranscriptFault] = []
    with open(path, "rb") as f:
        raw_lines = f.read().split(b"\n")
    for number, raw in enumerate(raw_lines, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
            raw = raw[3:]
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            uid = raw.decode("utf-8", errors="replace").split(maxsplit=1)[0] if raw.split() else f"line{number}"
            faults.append(
                TranscriptFault(
                    uid,
                    UNDECODABLE_TEXT,
                    f"{where(path, number)}: not UTF-8 (byte 0x{raw[exc.start]:02X} at column {exc.start + 1})",
                )
            )
            continue
        fields = line.split(maxsplit=1)
        if not fields:
            continue
        uid, text = fields[0], (fields[1] if len(fields) > 1 else "")
        if not text:
            faults.append(TranscriptFault(uid, EMPTY_TRANSCRIPT, f"{where(path, number)}: an id without text"))
            continue
        found = control_characters(line)
        if found:
            faults.append(
                TranscriptFault(uid, CONTROL_CHARACTERS, f"{where(path, number)}: control characters {' '.join(found)}")
            )
            continue
        lines.append(TranscriptLine(uid, text, line, number))
    return lines, faults
