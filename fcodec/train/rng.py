"""Random-number-generator state: seeding, capture and restore, so a resumed run draws the same numbers.

The states are stored as plain Python and torch objects (no numpy arrays), so a checkpoint holding them still
loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Dict, Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def capture_rng_state() -> Dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    python = state["python"]
    # weights_only loading turns the inner tuple into a list; random.setstate wants tuples
    random.setstate((python[0], tuple(python[1]), python[2]))
    npst = state["numpy"]
    np.random.set_state(
        (npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block (validation, audio logging) without moving the training RNG streams.

    Then how often one validates does not change what training draws, and a run resumed from a checkpoint
    written right after a validation continues exactly.
    """
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)
