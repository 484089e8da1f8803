"""The bad-input report: one TSV row per utterance left out, with where it came from and why.

Stage 1 writes ``<manifest_dir>/<corpus>_excluded.tsv`` for what a corpus's lhotse recipe could not take (a file
it cannot open, a transcript line without audio); stage 2 adds what it finds when it reads every recording and
transcript, and writes the whole list to ``data/cuts/bad_input.tsv``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Iterable, List

from fcodec.utils.io import atomic_write


@dataclass(frozen=True)
class BadInput:
    id: str  # the corpus's utterance id (e.g. BAC009S0002W0122, 121-121726-0000)
    source: str  # corpus:part, e.g. aishell:train
    path: str  # the audio file ("" when there is none)
    reason: str  # one of fcodec.data.audio_check's reasons
    detail: str = ""


COLUMNS = [f.name for f in fields(BadInput)]


def write_report(path: os.PathLike, rows: Iterable[BadInput]) -> Path:
    """Write the rows (sorted by source, then id) with a header line, atomically."""
    rows = sorted(set(rows), key=lambda r: (r.source, r.id, r.reason))

    def writer(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            out = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            out.writerow(COLUMNS)
            for row in rows:
                out.writerow(_clean(astuple(row)))

    return atomic_write(path, writer)


def read_report(path: os.PathLike) -> List[BadInput]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header != COLUMNS:
            raise ValueError(f"{path}: not a bad-input report (header {header}, expected {COLUMNS})")
        return [BadInput(*row) for row in reader]


def _clean(values) -> List[str]:
    # Tabs and newlines inside a detail message would break the TSV.
    return [" ".join(str(v).split()) for v in values]
