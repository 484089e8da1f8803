"""What the corpus modules share: the layout error, OpenSLR's address, and the pieces of the "scan the corpus,
run lhotse's recipe on a view of its usable files, point the manifests back at the real files" preparation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Tuple

from fcodec.data import audio_check as why
from fcodec.data.bad_input import BadInput

OPENSLR = "http://www.openslr.org/resources"


class LayoutError(Exception):
    """A corpus folder is missing or not laid out as its lhotse recipe expects."""


def link(target: Path, link_path: Path) -> None:
    """A symbolic link ``link_path`` -> ``target``, with the folders it needs.

    :param target: the real file.
    :param link_path: where the link goes (inside the view lhotse reads).
    """
    link_path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link_path)


def probe(candidates: List[Tuple[str, str, Path]], excluded: List[BadInput], nj: int, desc: str) -> List[int]:
    """Indices of the candidates whose audio header opens and holds samples; the rest go to ``excluded``.

    :param candidates: (utterance id, source as ``<corpus>:<part>``, audio file) of each utterance.
    :param excluded: the report of what was left out, appended to.
    :param nj: parallel header probes.
    :param desc: what the progress line says.
    """
    problems = why.check_many([str(p) for _, _, p in candidates], why.probe_audio, nj, desc=desc)
    for index, problem in sorted(problems.items()):
        uid, source, path = candidates[index]
        excluded.append(BadInput(uid, source, str(path), problem.reason, problem.detail))
    return [i for i in range(len(candidates)) if i not in problems]


def manifest_paths(out_dir: Path, corpus: str, part: str) -> List[Path]:
    """The two manifests of one part: ``<corpus>_recordings_<part>.jsonl.gz`` and the supervisions'.

    :param out_dir: the manifest folder.
    :param corpus: the corpus name (``aishell``, ``librispeech``).
    :param part: the part (``train``, ``dev-clean``, ...).
    """
    return [out_dir / f"{corpus}_recordings_{part}.jsonl.gz", out_dir / f"{corpus}_supervisions_{part}.jsonl.gz"]


def real_paths(recordings, view: Path, root: Path):
    """The recordings with the view's links, in every audio source, replaced by the real files they point at.

    :param recordings: a lhotse ``RecordingSet`` that lhotse's recipe made from the view.
    :param view: the folder of links lhotse read.
    :param root: the corpus folder the links point into.
    """
    from lhotse import RecordingSet
    from lhotse.utils import fastcopy

    view_prefix, real_prefix = str(view), str(root.absolute())

    def real(source: str) -> str:
        return real_prefix + source[len(view_prefix) :] if source.startswith(view_prefix) else source

    return RecordingSet.from_recordings(
        fastcopy(r, sources=[fastcopy(s, source=real(s.source)) for s in r.sources]) for r in recordings
    )
