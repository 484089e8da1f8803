"""Names that become file names: cut ids (``wav/<cut id>.wav``, ``tokens/<id[:3]>/<id>.npy``), test-set names.

A cut set is data from elsewhere; an id such as ``../../x`` or ``/home/u/.bashrc`` must not write outside the
output folder. :func:`safe_file_name` is the one check, called wherever such a name is joined to a folder.
"""

from __future__ import annotations

import os

from fcodec.utils.cli import UserError


class UnsafeNameError(UserError, ValueError):
    """A name that cannot be used as a single file name inside an output folder."""


def safe_file_name(name: str, what: str = "cut id") -> str:
    """``name`` unchanged if it is one plain path component: not empty, not ``.`` or ``..``, no ``/`` or ``\\``
    (so not absolute either), no control characters. Otherwise :class:`UnsafeNameError` naming it."""
    problem = None
    if not isinstance(name, str) or not name:
        problem = "it is empty"
    elif name in (".", ".."):
        problem = f"{name!r} names a folder"
    elif "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        problem = "it contains a path separator" + (" (an absolute path)" if name.startswith(("/", "\\")) else "")
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        problem = "it contains a control character"
    if problem is not None:
        raise UnsafeNameError(
            f"{what} {name!r} cannot be used as a file name: {problem}. Give every cut an id "
            f"without '/', '\\\\' or control characters (e.g. with lhotse's cut.with_id)"
        )
    return name
