"""LibriSpeech (openslr.org/12, English): its layout check, the download of the parts that are missing, and the
scan that decides which of its utterances lhotse's ``prepare_librispeech`` may see. :mod:`fcodec.data.corpora`
drives these steps."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from fcodec.data import audio_check as why
from fcodec.data.bad_input import BadInput
from fcodec.data.corpora.common import LayoutError, link, probe
from fcodec.data.transcripts import read_transcript, where

NAME = "librispeech"
FOLDER = "LibriSpeech"  # lhotse's download_librispeech writes <dl_dir>/LibriSpeech
OPTION = "--librispeech-dir"  # the recipe option that names a copy on disk
LIBRISPEECH_PARTS = (
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
    "dev-clean-2",
    "train-clean-5",
)


def _expected(root: Path, parts: Sequence[str]) -> str:
    part = parts[0] if parts else "train-clean-100"
    return (
        f"Expected LibriSpeech as openslr.org/12 ships it (and lhotse's download leaves it):\n"
        f"  {root}/{part}/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac\n"
        f"  {root}/{part}/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt\n"
        f"for each of the parts {' '.join(parts)}. Point --librispeech-dir at the folder that holds the part "
        f"folders (usually .../LibriSpeech), or leave it empty to download into <dl_dir>/LibriSpeech (stage 0)."
    )


def check_librispeech(root: Path, parts: Sequence[str]) -> None:
    """Raise :class:`LayoutError`, saying what was expected where, unless ``root`` holds these LibriSpeech parts.

    :param root: the folder that holds the part folders (usually ``.../LibriSpeech``).
    :param parts: the parts that must be there (``train-clean-100``, ``dev-clean``, ...).
    """
    root = Path(root)
    if not parts:
        raise LayoutError("no LibriSpeech parts requested (--librispeech-parts is empty)")
    unknown = [p for p in parts if p not in LIBRISPEECH_PARTS]
    if unknown:
        raise LayoutError(f"unknown LibriSpeech part(s) {' '.join(unknown)}; known: {' '.join(LIBRISPEECH_PARTS)}")
    if not root.is_dir():
        raise LayoutError(f"LibriSpeech folder {root} does not exist.\n{_expected(root, parts)}")
    if (root / "LibriSpeech").is_dir() and not any((root / p).is_dir() for p in parts):
        raise LayoutError(
            f"{root} holds a LibriSpeech folder; point at {root / 'LibriSpeech'}.\n"
            f"{_expected(root / 'LibriSpeech', parts)}"
        )
    if root.name in LIBRISPEECH_PARTS:
        raise LayoutError(
            f"{root} is a LibriSpeech part folder; point at its parent {root.parent}.\n{_expected(root.parent, parts)}"
        )
    for part in parts:
        part_dir = root / part
        if not part_dir.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.name in LIBRISPEECH_PARTS)
            raise LayoutError(
                f"LibriSpeech part folder {part_dir} is missing (parts present: "
                f"{' '.join(present) or 'none'}).\n{_expected(root, parts)}"
            )
        if next(part_dir.glob("*/*/*.trans.txt"), None) is None:
            raise LayoutError(
                f"LibriSpeech part folder {part_dir} has no <speaker>/<chapter>/*.trans.txt "
                f"transcripts.\n{_expected(root, parts)}"
            )


check = check_librispeech


def download(dl_dir: Path, corpus_dir: Path, parts: Sequence[str], base_url: str) -> None:
    """Download and extract the parts not in ``corpus_dir`` into ``<dl_dir>/LibriSpeech`` with lhotse.

    :param dl_dir: the download folder.
    :param corpus_dir: ``<dl_dir>/LibriSpeech``, checked part by part for what is there already.
    :param parts: the parts wanted.
    :param base_url: OpenSLR's resources folder or a mirror of it (resource 12).
    """
    from lhotse.recipes import download_librispeech

    missing = []
    for part in parts:  # download only the parts that are not there (lhotse skips those it completed)
        try:
            check_librispeech(corpus_dir, [part])
        except LayoutError:
            missing.append(part)
    download_librispeech(dl_dir, dataset_parts=missing, base_url=base_url)


def manifest_parts(parts: Sequence[str]) -> Tuple[str, ...]:
    """The parts whose manifests preparation writes: the parts asked for.

    :param parts: the parts asked for.
    """
    return tuple(parts)


def _flac_of(part_dir: Path, uid: str) -> Path:
    """lhotse's parse_utterance: <part>/<speaker>/<chapter>/<id>.flac"""
    return part_dir / Path(uid.replace("-", "/")).parent / f"{uid}.flac"


def scan_librispeech(root: Path, parts: Sequence[str], view: Path, nj: int) -> List[BadInput]:
    """Fill ``view`` with the usable part of each LibriSpeech part; return the utterances left out.

    :param root: the folder that holds the part folders.
    :param parts: the parts to scan.
    :param view: an empty folder, laid out as ``root``, for lhotse's ``prepare_librispeech`` to read.
    :param nj: parallel header probes.
    """
    root = root.absolute()
    excluded: List[BadInput] = []
    for part in parts:
        source = f"librispeech:{part}"
        candidates: List[Tuple[str, str, Path]] = []
        lines: List[str] = []
        kept_lines: Dict[Path, List[str]] = defaultdict(list)  # transcript (relative to the part) -> lines
        listed = set()
        for trans in sorted((root / part).rglob("*.trans.txt")):
            usable, faults = read_transcript(trans)
            for fault in faults:  # not UTF-8, no text, control characters: named with file and line
                listed.add(fault.uid)
                excluded.append(
                    BadInput(fault.uid, source, str(_flac_of(root / part, fault.uid)), fault.reason, fault.detail)
                )
            for entry in usable:
                listed.add(entry.uid)
                flac = _flac_of(root / part, entry.uid)
                if not flac.is_file():
                    excluded.append(
                        BadInput(
                            entry.uid, source, str(flac), why.MISSING, f"{where(trans, entry.number)}: no audio file"
                        )
                    )
                else:
                    candidates.append((entry.uid, source, flac))
                    lines.append(entry.line)
        for flac in sorted((root / part).rglob("*.flac")):
            if flac.stem not in listed:
                excluded.append(
                    BadInput(flac.stem, source, str(flac), why.NO_TRANSCRIPT, "in no *.trans.txt of its chapter")
                )
        for index in probe(candidates, excluded, nj, desc=f"librispeech {part}: probing audio"):
            flac = candidates[index][2]
            rel = flac.relative_to(root / part)
            kept_lines[rel.parent / f"{rel.parent.parent.name}-{rel.parent.name}.trans.txt"].append(lines[index])
            link(flac, view / part / rel)
        for rel, chapter_lines in kept_lines.items():
            (view / part / rel).write_text("".join(f"{line}\n" for line in chapter_lines), encoding="utf-8")
    return excluded


scan = scan_librispeech


def run_lhotse(view: Path, root: Path, parts: Sequence[str], nj: int):
    """lhotse's ``prepare_librispeech`` on the view: its manifests, ``{part: {"recordings", "supervisions"}}``.

    :param view: the folder :func:`scan` filled.
    :param root: the real corpus folder (lhotse looks there for alignments).
    :param parts: the parts to prepare.
    :param nj: lhotse's parallel jobs.
    """
    from lhotse.recipes import prepare_librispeech

    return prepare_librispeech(view, alignments_dir=root.absolute(), dataset_parts=parts, num_jobs=nj)
