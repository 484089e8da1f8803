"""What produced a result (a training run, a score): versions of Python and the main packages, the git commit."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Dict

from fcodec.utils.assets import REPO_ROOT

PACKAGES = ("torch", "lhotse", "openai-whisper", "kaldialign", "pesq", "pystoi", "opencc")


def git_revision(root: Path = REPO_ROOT) -> str:
    """'<hash>' or '<hash>-dirty'; 'unknown' outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_info() -> Dict[str, str]:
    from fcodec import __version__

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": platform.node(),
        "fcodec": __version__,
        "git": git_revision(),
    }
    for package in PACKAGES:
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = "not installed"
    return info


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")


@functools.lru_cache(maxsize=None)
def cpu_info() -> Dict[str, str]:
    """The CPU this process runs on: ``model`` (lscpu's 'Model name') and ``isa`` (the vector extensions that
    decide which kernels are fast, from /proc/cpuinfo's flags, e.g. 'avx2 fma avx512f ...')."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key in ("flags", "Features"):
                    flags = set(value.split())
                    break  # every core lists the same flags
    except OSError:  # not Linux
        pass
    return {"model": model, "isa": " ".join(flag for flag in ISA_FLAGS if flag in flags) or "unknown"}
