#!/usr/bin/env python3
"""AISHELL-1 and LibriSpeech for stages 0 and 1: check the layout on disk, download, write lhotse manifests.

    local/corpora.py fetch   --dl-dir download [--given aishell] [--base-url URL] aishell=download/aishell \
                             librispeech=download/LibriSpeech
    local/corpora.py prepare --output-dir data/manifests --librispeech-parts "dev-clean test-clean" [--nj 4] \
                             [--keep-existing true] aishell=download/aishell librispeech=download/LibriSpeech
    local/corpora.py check   aishell=/data/aishell

``prepare`` runs lhotse's own recipes (``prepare_aishell``, ``prepare_librispeech``) and writes their manifests
(``<corpus>_{recordings,supervisions}_<part>.jsonl.gz``). Those recipes stop at the first file they cannot
open, or at a LibriSpeech transcript line without text, so the corpus is scanned first (every audio header,
every transcript line, in parallel) and lhotse runs on a view of it (symbolic links) that leaves such
utterances out; the manifests point at the real files. What was left out, and why, goes to
``<corpus>_excluded_<part>.tsv``; stage 2 puts those lines into its bad-input report.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from fcodec.data import audio_check as why
from fcodec.data.bad_input import BadInput, write_report
from fcodec.data.manifest_io import save_manifest
from fcodec.data.transcripts import read_transcript, where
from fcodec.utils.logging import setup_logging

AISHELL_PARTS = ("train", "dev", "test")
AISHELL_TRANSCRIPT = "data_aishell/transcript/aishell_transcript_v0.8.txt"
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


class LayoutError(Exception):
    """A corpus folder is missing or not laid out as its lhotse recipe expects."""


# ----------------------------------------------------------------------------------------------- layout checks


def _aishell_expected(root: Path) -> str:
    return (
        f"Expected AISHELL-1 as openslr.org/33 ships it (and lhotse's download leaves it):\n"
        f"  {root}/{AISHELL_TRANSCRIPT}\n"
        f"  {root}/data_aishell/wav/{{train,dev,test}}/S0002/BAC009S0002W0122.wav\n"
        f"Point --aishell-dir at the folder that holds data_aishell/, or leave it empty to download it into "
        f"<dl_dir>/aishell (stage 0)."
    )


def check_aishell(root: Path) -> None:
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"AISHELL-1 folder {root} does not exist.\n{_aishell_expected(root)}")
    if (root / "transcript").is_dir() and (root / "wav").is_dir() and not (root / "data_aishell").exists():
        raise LayoutError(
            f"{root} is the data_aishell folder itself; point at its parent {root.parent}.\n"
            f"{_aishell_expected(root.parent)}"
        )
    if not (root / AISHELL_TRANSCRIPT).is_file():
        raise LayoutError(f"AISHELL-1 transcript {root / AISHELL_TRANSCRIPT} is missing.\n{_aishell_expected(root)}")
    for part in AISHELL_PARTS:
        wav_dir = root / "data_aishell" / "wav" / part
        if not wav_dir.is_dir():
            raise LayoutError(f"AISHELL-1 audio folder {wav_dir} is missing.\n{_aishell_expected(root)}")
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
                f"AISHELL-1 audio folder {wav_dir} has no <speaker>/<utterance>.wav files.{hint}\n"
                f"{_aishell_expected(root)}"
            )


def _librispeech_expected(root: Path, parts: Sequence[str]) -> str:
    part = parts[0] if parts else "train-clean-100"
    return (
        f"Expected LibriSpeech as openslr.org/12 ships it (and lhotse's download leaves it):\n"
        f"  {root}/{part}/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac\n"
        f"  {root}/{part}/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt\n"
        f"for each of the parts {' '.join(parts)}. Point --librispeech-dir at the folder that holds the part "
        f"folders (usually .../LibriSpeech), or leave it empty to download into <dl_dir>/LibriSpeech (stage 0)."
    )


def check_librispeech(root: Path, parts: Sequence[str]) -> None:
    root = Path(root)
    if not parts:
        raise LayoutError("no LibriSpeech parts requested (--librispeech-parts is empty)")
    unknown = [p for p in parts if p not in LIBRISPEECH_PARTS]
    if unknown:
        raise LayoutError(f"unknown LibriSpeech part(s) {' '.join(unknown)}; known: {' '.join(LIBRISPEECH_PARTS)}")
    if not root.is_dir():
        raise LayoutError(f"LibriSpeech folder {root} does not exist.\n{_librispeech_expected(root, parts)}")
    if (root / "LibriSpeech").is_dir() and not any((root / p).is_dir() for p in parts):
        raise LayoutError(
            f"{root} holds a LibriSpeech folder; point at {root / 'LibriSpeech'}.\n"
            f"{_librispeech_expected(root / 'LibriSpeech', parts)}"
        )
    if root.name in LIBRISPEECH_PARTS:
        raise LayoutError(
            f"{root} is a LibriSpeech part folder; point at its parent {root.parent}.\n"
            f"{_librispeech_expected(root.parent, parts)}"
        )
    for part in parts:
        part_dir = root / part
        if not part_dir.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.name in LIBRISPEECH_PARTS)
            raise LayoutError(
                f"LibriSpeech part folder {part_dir} is missing (parts present: "
                f"{' '.join(present) or 'none'}).\n{_librispeech_expected(root, parts)}"
            )
        if next(part_dir.glob("*/*/*.trans.txt"), None) is None:
            raise LayoutError(
                f"LibriSpeech part folder {part_dir} has no <speaker>/<chapter>/*.trans.txt "
                f"transcripts.\n{_librispeech_expected(root, parts)}"
            )


def check(corpus: str, corpus_dir: Path, parts: Sequence[str]) -> None:
    if corpus == "aishell":
        check_aishell(corpus_dir)
    else:
        check_librispeech(corpus_dir, parts)


# ----------------------------------------------------------------------------------------------- stage 0

OPENSLR = "http://www.openslr.org/resources"


def fetch(
    corpus: str, corpus_dir: Path, dl_dir: Path, parts: Sequence[str], given: bool, base_url: str = OPENSLR
) -> None:
    """Use the corpus when it is there; otherwise download it with lhotse (never over a folder the user gave).

    ``base_url`` is OpenSLR's resources folder or a mirror of it (resources 33 and 12)."""
    try:
        check(corpus, corpus_dir, parts)
        logging.info(f"{corpus}: found in {corpus_dir}; nothing to download")
        return
    except LayoutError as exc:
        if given:
            raise
        logging.info(f"{corpus}: not complete in {corpus_dir} ({str(exc).splitlines()[0]}); downloading")
    expected = dl_dir / ("aishell" if corpus == "aishell" else "LibriSpeech")
    if corpus_dir.resolve() != expected.resolve():
        raise LayoutError(f"lhotse downloads {corpus} into {expected}, not {corpus_dir}")
    try:
        if corpus == "aishell":
            from lhotse.recipes import download_aishell

            download_aishell(dl_dir, base_url=base_url)
        else:
            from lhotse.recipes import download_librispeech

            missing = []
            for part in parts:  # download only the parts that are not there (lhotse skips those it completed)
                try:
                    check_librispeech(corpus_dir, [part])
                except LayoutError:
                    missing.append(part)
            download_librispeech(dl_dir, dataset_parts=missing, base_url=base_url)
    except Exception as exc:  # network errors, full disks, broken archives
        option = "--aishell-dir" if corpus == "aishell" else "--librispeech-dir"
        raise LayoutError(
            f"downloading {corpus} from {base_url} into {dl_dir} failed ({type(exc).__name__}: "
            f"{exc}). Rerun stage 0 to resume, try a mirror (--openslr-url), or get the corpus "
            f"another way and point {option} at it."
        ) from exc
    check(corpus, corpus_dir, parts)
    logging.info(f"{corpus}: downloaded into {corpus_dir}")


# ----------------------------------------------------------------------------------------------- stage 1


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def _probe(candidates: List[Tuple[str, str, Path]], excluded: List[BadInput], nj: int, desc: str) -> List[int]:
    """Indices of the (id, source, path) whose audio header opens and holds samples; the rest go to ``excluded``."""
    problems = why.check_many([str(p) for _, _, p in candidates], why.probe_audio, nj, desc=desc)
    for index, problem in sorted(problems.items()):
        uid, source, path = candidates[index]
        excluded.append(BadInput(uid, source, str(path), problem.reason, problem.detail))
    return [i for i in range(len(candidates)) if i not in problems]


def scan_aishell(root: Path, view: Path, nj: int) -> List[BadInput]:
    """Fill ``view`` with the usable part of AISHELL-1 (transcript + links to usable wavs); return the rest."""
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
    for index in _probe(candidates, excluded, nj, desc="aishell: probing audio"):
        _uid, source, wav = candidates[index]
        part = source.split(":")[1]
        _link(wav, view / "data_aishell" / "wav" / part / wav.parent.name / wav.name)
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


def _flac_of(part_dir: Path, uid: str) -> Path:
    """lhotse's parse_utterance: <part>/<speaker>/<chapter>/<id>.flac"""
    return part_dir / Path(uid.replace("-", "/")).parent / f"{uid}.flac"


def scan_librispeech(root: Path, parts: Sequence[str], view: Path, nj: int) -> List[BadInput]:
    """Fill ``view`` with the usable part of each LibriSpeech part; return the utterances left out."""
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
        for index in _probe(candidates, excluded, nj, desc=f"librispeech {part}: probing audio"):
            flac = candidates[index][2]
            rel = flac.relative_to(root / part)
            kept_lines[rel.parent / f"{rel.parent.parent.name}-{rel.parent.name}.trans.txt"].append(lines[index])
            _link(flac, view / part / rel)
        for rel, chapter_lines in kept_lines.items():
            (view / part / rel).write_text("".join(f"{line}\n" for line in chapter_lines), encoding="utf-8")
    return excluded


def _outputs(out_dir: Path, corpus: str, part: str) -> List[Path]:
    return [out_dir / f"{corpus}_recordings_{part}.jsonl.gz", out_dir / f"{corpus}_supervisions_{part}.jsonl.gz"]


def _real_paths(recordings, view: Path, root: Path):
    """The view's links, in every recording source, replaced by the real files they point at."""
    from lhotse import RecordingSet
    from lhotse.utils import fastcopy

    view_prefix, real_prefix = str(view), str(root.absolute())

    def real(source: str) -> str:
        return real_prefix + source[len(view_prefix) :] if source.startswith(view_prefix) else source

    return RecordingSet.from_recordings(
        fastcopy(r, sources=[fastcopy(s, source=real(s.source)) for s in r.sources]) for r in recordings
    )


def prepare(corpus: str, corpus_dir: Path, out_dir: Path, parts: Sequence[str], nj: int, keep_existing: bool) -> None:
    check(corpus, corpus_dir, parts)
    all_parts = AISHELL_PARTS if corpus == "aishell" else tuple(parts)
    todo = [p for p in all_parts if not (keep_existing and all(f.is_file() for f in _outputs(out_dir, corpus, p)))]
    if not todo:
        logging.info(f"{corpus}: manifests of {' '.join(all_parts)} exist in {out_dir}; nothing to do")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    view = Path(tempfile.mkdtemp(prefix=f".{corpus}_view.", dir=out_dir)).absolute()
    try:
        if corpus == "aishell":
            from lhotse.recipes import prepare_aishell

            excluded = scan_aishell(corpus_dir, view, nj)
            logging.info("aishell: running lhotse's prepare_aishell on the usable files")
            manifests = prepare_aishell(view)
        else:
            from lhotse.recipes import prepare_librispeech

            excluded = scan_librispeech(corpus_dir, todo, view, nj)
            logging.info("librispeech: running lhotse's prepare_librispeech on the usable files")
            manifests = prepare_librispeech(view, alignments_dir=corpus_dir.absolute(), dataset_parts=todo, num_jobs=nj)
        by_part: Dict[str, List[BadInput]] = defaultdict(list)
        for row in excluded:
            by_part[row.source.split(":", 1)[1]].append(row)
        for part in todo:
            recordings = _real_paths(manifests[part]["recordings"], view, corpus_dir)
            recordings_path, supervisions_path = _outputs(out_dir, corpus, part)
            save_manifest(manifests[part]["supervisions"], supervisions_path)
            save_manifest(recordings, recordings_path)
            write_report(out_dir / f"{corpus}_excluded_{part}.tsv", by_part.pop(part, []))
            logging.info(
                f"{corpus} {part}: {len(recordings)} recordings, {len(manifests[part]['supervisions'])} "
                f"supervisions, {sum(r.source == f'{corpus}:{part}' for r in excluded)} left out"
            )
        for part, rows in by_part.items():  # e.g. AISHELL transcript lines of speakers with no audio at all
            write_report(out_dir / f"{corpus}_excluded_{part}.tsv", rows)
            logging.info(f"{corpus} {part}: {len(rows)} left out")
    finally:
        shutil.rmtree(view, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- command line


def _corpus_spec(text: str) -> Tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or name not in ("aishell", "librispeech") or not folder:
        raise argparse.ArgumentTypeError(f"expected aishell=FOLDER or librispeech=FOLDER, got {text!r}")
    return name, Path(folder)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["check", "fetch", "prepare"])
    parser.add_argument(
        "corpora",
        nargs="+",
        type=_corpus_spec,
        metavar="CORPUS=FOLDER",
        help="aishell=<folder holding data_aishell/> and/or librispeech=<folder holding the parts>",
    )
    parser.add_argument(
        "--librispeech-parts", default="train-clean-100 dev-clean test-clean", help="LibriSpeech parts, space separated"
    )
    parser.add_argument("--dl-dir", type=Path, default=Path("download"), help="fetch: where lhotse downloads to")
    parser.add_argument("--base-url", default=OPENSLR, help="fetch: OpenSLR's resources URL, or a mirror's")
    parser.add_argument(
        "--given",
        default="",
        help="fetch: corpora (space separated) whose folder the user named: checked, never downloaded into",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("data/manifests"), help="prepare: manifest folder")
    parser.add_argument("--nj", type=int, default=4, help="parallel header probes and lhotse jobs")
    parser.add_argument(
        "--keep-existing",
        default="false",
        choices=["true", "false"],
        help="prepare: leave the parts whose manifests exist alone",
    )
    args = parser.parse_args(argv)
    setup_logging()
    parts = args.librispeech_parts.split()
    try:
        for corpus, folder in args.corpora:
            if args.command == "check":
                check(corpus, folder, parts)
                logging.info(f"{corpus}: {folder} looks right")
            elif args.command == "fetch":
                fetch(corpus, folder, args.dl_dir, parts, given=corpus in args.given.split(), base_url=args.base_url)
            else:
                prepare(corpus, folder, args.output_dir, parts, args.nj, args.keep_existing == "true")
    except LayoutError as exc:
        logging.error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
