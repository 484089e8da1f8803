"""AISHELL-1 (openslr.org/33, Mandarin): its layout check, its download, and the scan that decides which of its
utterances lhotse's ``prepare_aishell`` may see. :mod:`fcodec.data.corpora` drives these steps."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from fcodec.data import audio_check as why
from fcodec.data.bad_input import BadInput
from fcodec.data.corpora.common import LayoutError, link, probe
from fcodec.data.transcripts import read_transcript, where

NAME = "aishell"
FOLDER = "aishell"  # lhotse's download_aishell writes <dl_dir>/aishell
OPTION = "--aishell-dir"  # the recipe option that names a copy on disk
AISHELL_PARTS = ("train", "dev", "test")
AISHELL_TRANSCRIPT = "data_aishell/transcript/aishell_transcript_v0.8.txt"


def _expected(root: Path) -> str:
    return (
        f"Expected AISHELL-1 as openslr.org/33 ships it (and lhotse's download leaves it):\n"
        f"  {root}/{AISHELL_TRANSCRIPT}\n"
        f"  {root}/data_aishell/wav/{{train,dev,test}}/S0002/BAC009S0002W0122.wav\n"
        f"Point --aishell-dir at the folder that holds data_aishell/, or leave it empty to download it into "
        f"<dl_dir>/aishell (stage 0)."
    )


def check_aishell(root: Path) -> None:
    """Raise :class:`LayoutError`, saying what was expected where, unless ``root`` holds AISHELL-1.

    :param root: the folder that holds ``data_aishell/`` (transcript and extracted ``wav/<part>/<speaker>/``).
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"AISHELL-1 folder {root} does not exist.\n{_expected(root)}")
    if (root / "transcript").is_dir() and (root / "wav").is_dir() and not (root / "data_aishell").exists():
        raise LayoutError(
            f"{root} is the data_aishell folder itself; point at its parent {root.parent}.\n{_expected(root.parent)}"
        )
    if not (root / AISHELL_TRANSCRIPT).is_file():
        raise LayoutError(f"AISHELL-1 transcript {root / AISHELL_TRANSCRIPT} is missing.\n{_expected(root)}")
    for part in AISHELL_PARTS:
        wav_dir = root / "data_aishell" / "wav" / part
        if not wav_dir.is_dir():
            raise LayoutError(f"AISHELL-1 audio folder {wav_dir} is missing.\n{_expected(root)}")
        if next(wav_dir.glob("*/*.wav"), None) is None:
            tarballs = sorted(p.name for p in (root / "data_aishell" / "wav").glob("*.tar.gz"))[:3]
            hint = (
                (
                    f" It holds the speaker archives ({', '.join(tarballs)}, ...) unextracted: extract each "
                    f"one there (tar xzf), as lhotse's download does."
                )
                if tarballs
                else ""
            )
            raise LayoutError(
                f"AISHELL-1 audio folder {wav_dir} has no <speaker>/<utterance>.wav files.{hint}\n{_expected(root)}"
            )


def check(root: Path, parts: Sequence[str]) -> None:
    """:func:`check_aishell` (AISHELL-1 has no parts to choose: ``parts`` is for LibriSpeech).

    :param root: the folder that holds ``data_aishell/``.
    :param parts: ignored.
    """
    check_aishell(root)


def download(dl_dir: Path, corpus_dir: Path, parts: Sequence[str], base_url: str) -> None:
    """Download and extract AISHELL-1 into ``<dl_dir>/aishell`` with lhotse (which skips what it completed).

    :param dl_dir: the download folder.
    :param corpus_dir: ``<dl_dir>/aishell`` (unused: lhotse chooses it).
    :param parts: ignored (lhotse fetches the whole corpus).
    :param base_url: OpenSLR's resources folder or a mirror of it (resource 33).
    """
    from lhotse.recipes import download_aishell

    download_aishell(dl_dir, base_url=base_url)


def manifest_parts(parts: Sequence[str]) -> Tuple[str, ...]:
    """The parts whose manifests preparation writes: always train, dev and test.

    :param parts: ignored.
    """
    return AISHELL_PARTS


def scan_aishell(root: Path, view: Path, nj: int) -> List[BadInput]:
    """Fill ``view`` with the usable part of AISHELL-1 (transcript + links to usable wavs); return the rest.

    :param root: the folder that holds ``data_aishell/``.
    :param view: an empty folder, laid out as ``root``, for lhotse's ``prepare_aishell`` to read.
    :param nj: parallel header probes.
    """
    root = root.absolute()
    excluded: List[BadInput] = []
    transcript: Dict[str, str] = {}
    line_of: Dict[str, int] = {}
    usable, faults = read_transcript(root / AISHELL_TRANSCRIPT)
    for entry in usable:
        transcript[entry.uid] = entry.line
        line_of[entry.uid] = entry.number
    # A faulty line (not UTF-8, no text, control characters) is reported here, with its file and line, and its
    # wav is left out; blank lines are dropped (lhotse's parser fails on them).
    faulty = {fault.uid: fault for fault in faults}
    (view / AISHELL_TRANSCRIPT).parent.mkdir(parents=True)
    (view / AISHELL_TRANSCRIPT).write_text("".join(f"{line}\n" for line in transcript.values()), encoding="utf-8")

    candidates: List[Tuple[str, str, Path]] = []
    part_of_speaker: Dict[str, str] = {}
    seen = set()
    for part in AISHELL_PARTS:
        for wav in sorted((root / "data_aishell" / "wav" / part).rglob("*.wav")):
            uid, speaker = wav.stem, wav.parent.name
            part_of_speaker[speaker] = part
            seen.add(uid)
            if uid in faulty:
                excluded.append(BadInput(uid, f"aishell:{part}", str(wav), faulty[uid].reason, faulty[uid].detail))
            elif uid not in transcript:
                excluded.append(
                    BadInput(uid, f"aishell:{part}", str(wav), why.NO_TRANSCRIPT, f"not in {AISHELL_TRANSCRIPT}")
                )
            else:
                candidates.append((uid, f"aishell:{part}", wav))
    for index in probe(candidates, excluded, nj, desc="aishell: probing audio"):
        _uid, source, wav = candidates[index]
        part = source.split(":")[1]
        link(wav, view / "data_aishell" / "wav" / part / wav.parent.name / wav.name)
    for uid in sorted(set(transcript) - seen):
        speaker = uid[6:11] if uid.startswith("BAC009") else ""
        part = part_of_speaker.get(speaker)
        path = str(root / "data_aishell" / "wav" / part / speaker / f"{uid}.wav") if part else ""
        excluded.append(
            BadInput(
                uid,
                f"aishell:{part or 'other'}",
                path,
                why.MISSING,
                f"{where(root / AISHELL_TRANSCRIPT, line_of[uid])}: no audio file",
            )
        )
    for uid in sorted(set(faulty) - seen):  # a faulty line whose audio is missing too: its line is the fault
        excluded.append(BadInput(uid, "aishell:other", "", faulty[uid].reason, faulty[uid].detail))
    return excluded


def scan(root: Path, parts: Sequence[str], view: Path, nj: int) -> List[BadInput]:
    """:func:`scan_aishell` (every part is scanned: ``parts`` is for LibriSpeech).

    :param root: the folder that holds ``data_aishell/``.
    :param parts: ignored.
    :param view: an empty folder for lhotse to read.
    :param nj: parallel header probes.
    """
    return scan_aishell(root, view, nj)


def run_lhotse(view: Path, root: Path, parts: Sequence[str], nj: int):
    """lhotse's ``prepare_aishell`` on the view: its manifests, ``{part: {"recordings", "supervisions"}}``.

    :param view: the folder :func:`scan` filled.
    :param root: the real corpus folder (unused: AISHELL-1 has no side files lhotse reads).
    :param parts: ignored (lhotse prepares every part).
    :param nj: ignored (lhotse's AISHELL-1 recipe is serial).
    """
    from lhotse.recipes import prepare_aishell

    return prepare_aishell(view)
