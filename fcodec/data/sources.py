"""Manifests are data: audio sources that would run a command or reach the network are refused.

A lhotse ``AudioSource`` of type ``command`` is run through a shell when its audio is read, and one of type
``url`` is fetched from wherever it points. A cut set is shared like any data file, so reading one must not run
what it says. Every place fcodec reads a manifest or audio calls :func:`check_sources` (the manifest readers of
:mod:`fcodec.data.manifest_io`, :func:`fcodec.data.audio.read_mono` and the training dataset), which raises
:class:`UnsafeSourceError` naming the cut or recording.

Set ``FCODEC_ALLOW_UNSAFE_SOURCES=1`` in the environment to allow them for manifests you trust (it reaches
DataLoader workers and every recipe stage alike).
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator

from fcodec.utils.cli import UserError

ALLOW_ENV = "FCODEC_ALLOW_UNSAFE_SOURCES"
UNSAFE_TYPES = ("command", "url")
REFUSED = "refused source"  # the bad-input report's reason


class UnsafeSourceError(UserError, ValueError):
    """A cut or recording whose audio source would run a command or fetch a URL."""

    def __init__(self, item_id: str, source_type: str, source: str):
        self.item_id, self.source_type, self.source = item_id, source_type, source
        super().__init__(
            f"{item_id}: audio source of type {source_type!r} refused ({' '.join(str(source).split())[:200]!r}); "
            f"a manifest is data, reading it must not run commands or fetch URLs. Set {ALLOW_ENV}=1 to allow "
            f"such sources for a manifest you trust"
        )


def unsafe_sources_allowed() -> bool:
    return os.environ.get(ALLOW_ENV, "").strip().lower() in ("1", "true", "yes")


def _recordings(item: Any) -> Iterator[Any]:
    """The lhotse recordings behind a recording, a mono cut, or a mixed/padded cut."""
    if hasattr(item, "sources"):
        yield item
        return
    recording = getattr(item, "recording", None) if getattr(item, "has_recording", True) else None
    if recording is not None:
        yield recording
    for track in getattr(item, "tracks", None) or []:
        yield from _recordings(track.cut)


def check_sources(item: Any) -> Any:
    """``item`` unchanged, or :class:`UnsafeSourceError` if one of its audio sources is a command or a URL (unless
    allowed by the environment)."""
    if unsafe_sources_allowed():
        return item
    for recording in _recordings(item):
        for source in recording.sources:
            if source.type in UNSAFE_TYPES:
                item_id = getattr(item, "id", recording.id)
                name = item_id if item_id == recording.id else f"cut {item_id} (recording {recording.id})"
                raise UnsafeSourceError(name, source.type, source.source)
    return item


def check_all(items: Iterable[Any]) -> None:
    """:func:`check_sources` on each item of an eager manifest."""
    if unsafe_sources_allowed():
        return
    for item in items:
        check_sources(item)
