"""One logging setup for every entry point: a console handler and, optionally, a plain log file."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

FORMAT = "%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def setup_logging(log_file: Optional[os.PathLike] = None, level: int = logging.INFO, rank: int = 0) -> logging.Logger:
    """Configure the root logger: console (rank 0 only, to keep DDP output readable) plus ``log_file``.

    Calling it again replaces the handlers it installed before, so tests and resumed runs do not duplicate lines.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_fcodec", False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(FORMAT, DATEFMT)
    if rank == 0:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(formatter)
        console._fcodec = True  # type: ignore[attr-defined]
        root.addHandler(console)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        file_handler._fcodec = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    return root
