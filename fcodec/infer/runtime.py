"""What a decode run needs before it starts: the codec loaded, and how many torch threads to give it."""

from __future__ import annotations

import os

from fcodec.models.codec import FocalCodec

__all__ = ["available_cores", "load_codec", "resolve_num_threads"]


def available_cores() -> int:
    """Cores this process may run on (a cluster job's allocation, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_num_threads(num_threads: int, device: str) -> int:
    """``num_threads`` > 0 as given; 0 (auto): one thread beside a GPU (the CPU only moves audio), else half
    the cores. Small models lose more to thread synchronisation than they gain, and a box shared with other
    jobs (the recipe's other stages, a scorer) slows every thread down.

    Parameters
    ----------
    num_threads : int
        Requested torch threads; 0 (or less) means automatic.
    device : str
        The codec's device (``cpu``, ``cuda``, ``cuda:1``, ...).

    Returns
    -------
    int
        Threads to use, at least 1.
    """
    if num_threads > 0:
        return num_threads
    if device.startswith("cuda"):
        return 1
    return max(1, available_cores() // 2)


def load_codec(source: str, device: str = "cpu") -> FocalCodec:
    """An exported model folder, a config path or a Hugging Face repo id (``FocalCodec.from_pretrained``).

    Parameters
    ----------
    source : str
        What ``FocalCodec.from_pretrained`` accepts.
    device : str, default "cpu"
        Torch device to move the model to.

    Returns
    -------
    FocalCodec
        The model with its weights, in eval mode, on ``device``.

    Raises
    ------
    fcodec.models.CheckpointError
        The source cannot be found, read or matched to its config.
    """
    model = FocalCodec.from_pretrained(source)
    return model.eval().to(device)
