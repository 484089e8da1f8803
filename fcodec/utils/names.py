"""Names that become file names: cut ids (``wav/<cut id>.wav``, ``tokens/<id[:3]>/<id>.npy``), test-set names.

A cut set is data from elsewhere; an id such as ``../../x`` or ``/home/u/.bashrc`` must not write outside the
output folder. :func:`safe_file_name` is the one check, called wherever such a name is joined to a folder.
"""

from __future__ import annotations

import os

from fcodec.utils.cli import UserError

# a file system allows 255 bytes per name; outputs add a suffix (".wav", ".npy") and atomic writes a temporary
# prefix and suffix around it: an id longer than this would fail half way, after other files were written
MAX_NAME_BYTES = 200


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
    elif len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        problem = f"it is {len(name.encode('utf-8', 'surrogateescape'))} bytes long, more than {MAX_NAME_BYTES}"
    if problem is not None and isinstance(name, str) and len(name) > 60:
        name = name[:40] + "..." + name[-10:]  # the message stays one readable line
    if problem is not None:
        raise UnsafeNameError(
            f"{what} {name!r} cannot be used as a file name: {problem}. Give every cut a short id "
            f"without '/', '\\\\' or control characters (e.g. with lhotse's cut.with_id)"
        )
    return name
