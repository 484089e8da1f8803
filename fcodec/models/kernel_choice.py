"""Which kernel runs an operator: measured on the machine that runs, once per operator shape, and remembered.

A fast kernel (oneDNN's GEMM, a convolution computed as a matrix product) is faster than PyTorch's plain op on
some CPUs and shapes and slower on others, so none is assumed: the first inference call of each operator shape
times the plain op and each candidate on that call's own input (a few interleaved runs, best of each), and a
candidate is kept only when it beat the plain op. Decisions are cached in a small JSON file,
``$FCODEC_CACHE_DIR/kernels.json`` (default ``~/.cache/fcodec/kernels.json``), under a key naming the CPU model,
its vector extensions and the torch version, so another machine or torch measures afresh. The thread count is
not part of the key: a decision measured with one thread count is kept for all, so that the same input gives
the same bytes whatever the thread count (delete the file to measure again). The file is rewritten
atomically; it is derived data, checked entry by entry: an unreadable file, a machine entry that is not an object
or a decision that names no kernel of the operator is ignored and measured again, never run. A cache that cannot
be written is said once; the process then keeps its decisions in memory.

``FCODEC_FAST_KERNELS``: ``0`` forces the plain ops, ``1`` the fast ones without measuring (for comparisons),
anything else (the default) measures.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional

import torch

__all__ = ["PLAIN", "mode", "cache_path", "machine_key", "pick", "measure", "choose", "clear", "generation"]

logger = logging.getLogger(__name__)

PLAIN = "plain"
MIN_RUNS = 3  # timed runs of each kernel at least ...
MAX_RUNS = 30  # ... and at most, within (best-of-many: a busy shared machine delays single runs)
BUDGET_S = 0.05  # seconds of timing per kernel (after one warm-up run each)

_lock = threading.Lock()
_decisions: Optional[Dict[str, Dict[str, str]]] = None  # machine key -> {operator key: kernel}
_generation = 0
_unwritable_said = False


def mode() -> str:
    """'plain', 'fast' or 'measure', from ``FCODEC_FAST_KERNELS``."""
    value = os.environ.get("FCODEC_FAST_KERNELS", "").strip().lower()
    return {"0": "plain", "1": "fast"}.get(value, "measure")


def cache_path() -> Path:
    root = os.environ.get("FCODEC_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "fcodec"


def machine_key() -> str:
    """What a measurement depends on besides the shape: CPU model and ISA, torch version."""
    from fcodec.utils.environment import cpu_info

    cpu = cpu_info()
    return f"{cpu['model']} [{cpu['isa']}] | torch {torch.__version__}"


def pick(timings: Mapping[str, List[float]]) -> str:
    """The kernel to keep: the fastest (best run) of the candidates, and the plain one unless a candidate beat it.

    ``timings`` maps kernel names to seconds per run and must hold ``PLAIN``; ties go to the plain kernel.
    """
    if PLAIN not in timings or not timings[PLAIN]:
        raise ValueError("the plain kernel must have been timed")
    best = {name: min(runs) for name, runs in timings.items() if runs}
    fastest = min(best, key=lambda name: (best[name], name != PLAIN))
    return fastest if best[fastest] < best[PLAIN] else PLAIN


def measure(
    kernels: Mapping[str, Callable[[], object]], clock: Callable[[], float] = time.perf_counter
) -> Dict[str, List[float]]:
    """Seconds per run of each kernel: one warm-up run each, then interleaved runs (so that a burst of load on
    a shared machine hits all alike) until ``BUDGET_S`` per kernel or ``MAX_RUNS``."""
    for run in kernels.values():
        run()
    timings: Dict[str, List[float]] = {name: [] for name in kernels}
    spent = 0.0
    for i in range(MAX_RUNS):
        if i >= MIN_RUNS and spent >= BUDGET_S * len(kernels):
            break
        for name, run in kernels.items():
            start = clock()
            run()
            elapsed = clock() - start
            timings[name].append(elapsed)
            spent += elapsed
    return timings


def _load() -> Dict[str, Dict[str, str]]:
    global _decisions
    if _decisions is None:
        try:
            _decisions = json.loads((cache_path() / "kernels.json").read_text())
            if not isinstance(_decisions, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            _decisions = {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring the kernel cache %s (%s); measuring again", cache_path() / "kernels.json", exc)
            _decisions = {}
    return _decisions


def _machine_entry(decisions: Dict, machine: str) -> Dict[str, str]:
    """``decisions[machine]``, replaced by an empty object when it is not one (a damaged or hand-edited file)."""
    if not isinstance(decisions.get(machine), dict):
        decisions[machine] = {}
    return decisions[machine]


def _save(machine: str, key: str, choice: str) -> None:
    global _unwritable_said
    from fcodec.utils.io import atomic_write_json

    path = cache_path() / "kernels.json"
    try:  # merge with what other processes wrote since we read the file
        on_disk = json.loads(path.read_text())
        on_disk = on_disk if isinstance(on_disk, dict) else {}
    except (OSError, ValueError):
        on_disk = {}
    _machine_entry(on_disk, machine)[key] = choice
    try:
        atomic_write_json(path, on_disk)
    except OSError as exc:  # a read-only home still runs, it only measures again next time
        if not _unwritable_said:
            _unwritable_said = True
            logger.warning("cannot write the kernel cache %s (%s); decisions are kept for this run only", path, exc)


def choose(op: str, shape: str, kernels: Callable[[], Mapping[str, Callable[[], object]]]) -> str:
    """The kernel to run operator ``op`` at ``shape`` with: cached, or measured now on ``kernels()`` (name ->
    a call on the current input; must hold ``PLAIN``; built only when a measurement is needed)."""
    current = mode()
    if current == "plain":
        return PLAIN
    candidates = kernels()  # closures only: nothing runs unless measured
    if current == "fast":
        return next(name for name in candidates if name != PLAIN)
    machine, key = machine_key(), f"{op} {shape}"
    with _lock:
        known = _machine_entry(_load(), machine).get(key)
    if isinstance(known, str) and known in candidates:
        return known
    if known is not None:
        logger.warning("kernel cache %s: %r is no kernel of %s; measuring again", cache_path(), known, key)
    timings = measure(candidates)
    choice = pick(timings)
    logger.debug(
        "kernel for %s: %s (best ms %s)",
        key,
        choice,
        {name: round(1000 * min(runs), 3) for name, runs in timings.items()},
    )
    with _lock:
        _machine_entry(_load(), machine)[key] = choice
        _save(machine, key, choice)
    return choice


def clear() -> None:
    """Forget the decisions read so far (the next call reads the cache file again)."""
    global _decisions, _generation
    with _lock:
        _decisions = None
        _generation += 1


def generation() -> int:
    """Changes whenever the decisions are forgotten: callers keeping decisions of their own key them on it."""
    return _generation
