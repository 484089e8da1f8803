"""One way for every command-line tool to fail on what a user can fix: one line on stderr, a non-zero status.

    @command_line("python -m fcodec.bin.score")
    def main(argv=None) -> int:
        ...
        raise UserError(f"--ref-cuts {path} not found (stage 2 writes data/cuts/<test set>.jsonl.gz)")

An expected failure is a :class:`UserError` (the library's own error types for bad input derive from it), a
missing file (``FileNotFoundError``), a full disk (``OSError`` ENOSPC, found anywhere in the exception's chain,
as torch wraps it) or another error of the file system that names its file (read-only, not a folder, permission
denied). It prints ``<prog>: error: <message>`` (one line) and returns the error's exit status (2,
argparse's, unless it says otherwise); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import signal
import sys
import threading
from typing import Callable, Iterator, Optional, TypeVar

F = TypeVar("F", bound=Callable[..., Optional[int]])


class UserError(Exception):
    """A failure the user can fix (a missing file, a bad option, bad input); the message names it and the fix."""

    exit_code = 2


def _disk_full(exc: BaseException) -> Optional[OSError]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def error_message(exc: BaseException) -> Optional[str]:
    """The one line for an expected failure, None for a bug."""
    full = _disk_full(exc)
    if full is not None:
        where = f" while writing {full.filename}" if full.filename else ""
        return (
            f"no space left on device{where}: free some space and rerun the same command (it continues "
            f"from what was written completely)"
        )
    if isinstance(exc, UserError):
        return one_line(exc)
    if isinstance(exc, FileNotFoundError):
        return one_line(exc) if exc.filename is None else f"{exc.filename}: no such file or directory"
    if isinstance(exc, OSError) and exc.filename is not None:  # read-only, not a folder, permission denied, ...
        return f"{exc.filename}: {exc.strerror or one_line(exc)}"
    return None


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (a scheduler's kill, ``timeout``) unwinds like Ctrl-C: ``finally`` blocks and context managers run,
    so worker pools are shut down and nothing is left running (the default handler ends the process at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def command_line(prog: str) -> Callable[[F], F]:
    """Decorate a ``main(argv=None) -> int`` so that expected failures end as one line and an exit status, and
    SIGTERM unwinds (:func:`sigterm_as_exit`)."""

    def wrap(main: F) -> F:
        @functools.wraps(main)
        def wrapped(*args, **kwargs) -> int:
            try:
                with sigterm_as_exit():
                    return main(*args, **kwargs) or 0
            except Exception as exc:
                message = error_message(exc)
                if message is None:
                    raise
                print(f"{prog}: error: {message}", file=sys.stderr)
                return getattr(exc, "exit_code", 1) if isinstance(exc, UserError) else 1

        return wrapped  # type: ignore[return-value]

    return wrap
