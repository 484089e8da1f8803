"""The parts :class:`fcodec.infer.multistream.MultiStreamCodec` builds its batched steps from: a stream's record,
the rows of the per-slot state tensors a step serves, streaming-state trees flattened to their tensors, and a
step run eagerly over static buffers or replayed as a captured CUDA graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Sequence, Tuple

import torch
from torch import Tensor

from fcodec.models.common import FreshOrTail

# a nested list/tuple of tensors and Nones (a module's streaming state) <-> its tensors in order
Spec = Any


def flatten_state(tree: Any, leaves: List[Tensor]) -> Spec:
    if tree is None:
        return None
    if isinstance(tree, Tensor):
        leaves.append(tree)
        return len(leaves) - 1
    if isinstance(tree, (list, tuple)):
        return [flatten_state(item, leaves) for item in tree]
    raise TypeError(f"unexpected streaming state element {type(tree).__name__}")


def state_leaves(tree: Any) -> List[Tensor]:
    leaves: List[Tensor] = []
    flatten_state(tree, leaves)
    return leaves


def unflatten_state(spec: Spec, leaves: Sequence[Any]) -> Any:
    if spec is None:
        return None
    if isinstance(spec, int):
        return leaves[spec]
    return [unflatten_state(item, leaves) for item in spec]


@dataclass
class StreamRecord:
    slot: int
    samples: int = 0  # encoder side: samples consumed
    tokens: int = 0  # decoder side: tokens consumed
    encoder_finished: bool = False
    decoder_finished: bool = False


def with_fresh_rows(tails: Sequence[Tensor], fresh: Tensor) -> List[FreshOrTail]:
    """Per-slot tails where the rows of streams that start now get the first call's padding instead."""
    return [FreshOrTail(tail, fresh) for tail in tails]


def by_slot(ids: List[int], streams: List[StreamRecord], *columns: List[Any]) -> Tuple[List[Any], ...]:
    """The request's columns reordered by slot: streams opened one after another then form a range of slots,
    whose states are read as views instead of gathered."""
    order = sorted(range(len(ids)), key=lambda i: streams[i].slot)
    return tuple([column[i] for i in order] for column in (ids, streams, *columns))


class Rows:
    """The slots a step serves, in increasing order: a range (read as views), or any set (gathered)."""

    def __init__(self, slots: List[int], num_slots: int, device: torch.device) -> None:
        first = slots[0]
        self.is_range = slots == list(range(first, first + len(slots)))
        self.is_all = self.is_range and len(slots) == num_slots
        self.span = slice(first, first + len(slots))
        self.index = torch.tensor(slots, device=device)

    def read(self, store: Tensor) -> Tensor:
        return store[self.span] if self.is_range else store.index_select(0, self.index)

    def write(self, stores: List[Tensor], new: Sequence[Tensor], rebind: bool) -> None:
        """Put the rows' new values into the per-slot tensors ``stores``; with ``rebind`` (eager steps) a step of
        every slot keeps the new tensors themselves instead of copying them."""
        for i, value in enumerate(new):
            if rebind and self.is_all:
                stores[i] = value
            elif self.is_range:
                stores[i][self.span].copy_(value)
            else:
                stores[i].index_copy_(0, self.index, value)

    def assign(self, store: Tensor, values: List[int]) -> None:
        self.write([store], [torch.tensor(values, dtype=store.dtype, device=store.device)], rebind=False)


class StaticStep:
    """``run()``, a step over static buffers (all slots), run again at every ``replay()``: what a captured
    graph replays, without the capture (the tests run the all-slot bookkeeping with it on the CPU)."""

    def __init__(self, run: Callable[[], Any]) -> None:
        self.run = run

    def replay(self) -> Any:
        return self.run()


class CapturedStep:
    """``run()`` (a step over static buffers) captured as a CUDA graph; ``replay()`` returns its outputs."""

    def __init__(self, run: Callable[[], Any], warmup: int = 3) -> None:
        # warm-up on a side stream (PyTorch's recipe): the kernel choices are measured and the re-laid-out
        # weights cached here, so that the captured pass only launches kernels
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(warmup):
                run()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(self.graph):
            self.outputs = run()

    def replay(self) -> Any:
        self.graph.replay()
        return self.outputs
