"""The corpora fcodec prepares for stages 0 and 1 of a recipe, one module each, lhotse-recipe style:

* :mod:`fcodec.data.corpora.aishell`: AISHELL-1 (Mandarin, openslr.org/33);
* :mod:`fcodec.data.corpora.librispeech`: LibriSpeech (English, openslr.org/12).

For each: :func:`check` (is the folder laid out as lhotse expects? if not, say what was expected where),
:func:`fetch` (stage 0: use a copy on disk, or download with lhotse) and :func:`prepare` (stage 1: lhotse
manifests ``<corpus>_{recordings,supervisions}_<part>.jsonl.gz``). ``python -m fcodec.bin.corpora`` is the command
line a recipe's ``local/data.sh`` calls.

lhotse's own recipes (``prepare_aishell``, ``prepare_librispeech``) stop at the first file they cannot open, or at
a LibriSpeech transcript line without text, so :func:`prepare` scans the corpus first (every audio header, every
transcript line, in parallel) and runs lhotse on a view of it (symbolic links) that leaves such utterances out;
the manifests point at the real files. What was left out, and why, goes to ``<corpus>_excluded_<part>.tsv``;
stage 2 puts those lines into its bad-input report.

A corpus module offers ``NAME``, ``FOLDER`` (where lhotse downloads it in the download folder), ``OPTION`` (the
recipe option naming a copy on disk), ``check``, ``download``, ``manifest_parts``, ``scan`` and ``run_lhotse``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence

from fcodec.data.bad_input import BadInput, write_report
from fcodec.data.corpora import aishell, librispeech
from fcodec.data.corpora.aishell import AISHELL_PARTS, AISHELL_TRANSCRIPT, check_aishell, scan_aishell
from fcodec.data.corpora.common import OPENSLR, LayoutError, manifest_paths, real_paths
from fcodec.data.corpora.librispeech import LIBRISPEECH_PARTS, check_librispeech, scan_librispeech
from fcodec.data.manifest_io import save_manifest

__all__ = [
    "AISHELL_PARTS",
    "AISHELL_TRANSCRIPT",
    "CORPORA",
    "LIBRISPEECH_PARTS",
    "OPENSLR",
    "LayoutError",
    "check",
    "check_aishell",
    "check_librispeech",
    "fetch",
    "prepare",
    "scan_aishell",
    "scan_librispeech",
]

CORPORA = {module.NAME: module for module in (aishell, librispeech)}


def _module(corpus: str):
    try:
        return CORPORA[corpus]
    except KeyError:
        raise LayoutError(f"unknown corpus {corpus!r}; known: {' '.join(CORPORA)}") from None


def check(corpus: str, corpus_dir: Path, parts: Sequence[str]) -> None:
    """Raise :class:`LayoutError`, saying what was expected where, unless ``corpus_dir`` holds the corpus.

    :param corpus: ``aishell`` or ``librispeech``.
    :param corpus_dir: the corpus folder (the one holding ``data_aishell/``, or LibriSpeech's part folders).
    :param parts: the LibriSpeech parts that must be there (AISHELL-1 ignores them).
    """
    _module(corpus).check(Path(corpus_dir), parts)


def fetch(
    corpus: str, corpus_dir: Path, dl_dir: Path, parts: Sequence[str], given: bool, base_url: str = OPENSLR
) -> None:
    """Stage 0: use the corpus when it is there; otherwise download it with lhotse (never over a folder the user
    gave).

    :param corpus: ``aishell`` or ``librispeech``.
    :param corpus_dir: where the corpus is, or is to be: ``<dl_dir>/aishell`` or ``<dl_dir>/LibriSpeech`` when
        it is downloaded.
    :param dl_dir: the download folder.
    :param parts: the LibriSpeech parts wanted (AISHELL-1 ignores them).
    :param given: the user named ``corpus_dir``: check it and stop when it is wrong, never download into it.
    :param base_url: OpenSLR's resources folder or a mirror of it (resources 33 and 12).
    """
    module = _module(corpus)
    corpus_dir, dl_dir = Path(corpus_dir), Path(dl_dir)
    try:
        module.check(corpus_dir, parts)
        logging.info(f"{corpus}: found in {corpus_dir}; nothing to download")
        return
    except LayoutError as exc:
        if given:
            raise
        logging.info(f"{corpus}: not complete in {corpus_dir} ({str(exc).splitlines()[0]}); downloading")
    expected = dl_dir / module.FOLDER
    if corpus_dir.resolve() != expected.resolve():
        raise LayoutError(f"lhotse downloads {corpus} into {expected}, not {corpus_dir}")
    try:
        module.download(dl_dir, corpus_dir, parts, base_url)
    except Exception as exc:  # network errors, full disks, broken archives
        raise LayoutError(
            f"downloading {corpus} from {base_url} into {dl_dir} failed ({type(exc).__name__}: "
            f"{exc}). Rerun stage 0 to resume, try a mirror (--openslr-url), or get the corpus "
            f"another way and point {module.OPTION} at it."
        ) from exc
    module.check(corpus_dir, parts)
    logging.info(f"{corpus}: downloaded into {corpus_dir}")


def prepare(corpus: str, corpus_dir: Path, out_dir: Path, parts: Sequence[str], nj: int, keep_existing: bool) -> None:
    """Stage 1: the lhotse manifests of the corpus's usable utterances, and a report of the others.

    Writes ``<out_dir>/<corpus>_{recordings,supervisions}_<part>.jsonl.gz`` and ``<corpus>_excluded_<part>.tsv``.

    :param corpus: ``aishell`` or ``librispeech``.
    :param corpus_dir: the corpus folder (checked first).
    :param out_dir: the manifest folder.
    :param parts: the LibriSpeech parts to prepare (AISHELL-1 always prepares train, dev and test).
    :param nj: parallel header probes and lhotse jobs.
    :param keep_existing: leave the parts whose two manifests exist alone (a rerun after some were deleted).
    """
    module = _module(corpus)
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    module.check(corpus_dir, parts)
    all_parts = module.manifest_parts(parts)
    todo = [
        p for p in all_parts if not (keep_existing and all(f.is_file() for f in manifest_paths(out_dir, corpus, p)))
    ]
    if not todo:
        logging.info(f"{corpus}: manifests of {' '.join(all_parts)} exist in {out_dir}; nothing to do")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    view = Path(tempfile.mkdtemp(prefix=f".{corpus}_view.", dir=out_dir)).absolute()
    try:
        excluded = module.scan(corpus_dir, todo, view, nj)
        logging.info(f"{corpus}: running lhotse's prepare_{corpus} on the usable files")
        manifests = module.run_lhotse(view, corpus_dir, todo, nj)
        _write(corpus, corpus_dir, out_dir, todo, view, manifests, excluded)
    finally:
        shutil.rmtree(view, ignore_errors=True)


def _write(corpus, corpus_dir: Path, out_dir: Path, todo, view: Path, manifests, excluded: List[BadInput]) -> None:
    """The manifests of each part done, pointed at the real files, and the report of what was left out."""
    by_part: Dict[str, List[BadInput]] = defaultdict(list)
    for row in excluded:
        by_part[row.source.split(":", 1)[1]].append(row)
    for part in todo:
        recordings = real_paths(manifests[part]["recordings"], view, corpus_dir)
        recordings_path, supervisions_path = manifest_paths(out_dir, corpus, part)
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
