"""Encode signals to tokens and decode them back, many utterances per model call, each exactly as if alone.

A causal codec attends within its 80 ms chunks (the encoder's lookahead and the decompressor's refiner see the
whole chunk), so zeros appended *inside* an utterance's last chunk change that chunk's outputs, while whole
chunks appended after it change nothing before them. Every utterance is therefore completed with zeros to a
whole number of chunks, as a live stream closes its final chunk; a batch then pads the shorter items with more
whole chunks, which cannot reach back. After the pass, each item is cut to its own length:

* tokens: ``model.lengths`` of its samples (``ceil(n / hop)`` for the causal models: every frame that overlaps
  the utterance),
* audio: ``model.output_length(n)`` = ``floor(n * sr_out / sr_in)`` samples at the model's output rate.

The tokens and the audio of an utterance are then the same whether it is decoded alone or with others, offline
or chunk by chunk (``streaming=True``, through :func:`fcodec.infer.stream_run.stream_signal`).
A non-causal codec attends over the whole utterance, so padding would change everything: it runs one utterance
per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import torch
from torch import Tensor

from fcodec.infer.stream_run import stream_signal
from fcodec.models.codec import FocalCodec

__all__ = ["CodecResult", "padded_length", "num_tokens", "encode_decode", "can_batch", "duration_batches"]


@dataclass
class CodecResult:
    """One utterance's codec output, cut to its own length.

    Parameters
    ----------
    tokens : Tensor, shape (num_tokens,), int64, on the CPU
        ``num_tokens(model, n)`` tokens for n input samples.
    audio : Tensor, shape (output_length,), float32, on the CPU
        ``model.output_length(n)`` samples at ``model.sample_rate_output``.
    """

    tokens: Tensor  # (num_tokens,) int64
    audio: Tensor  # (output_length,) float32 at model.sample_rate_output


def can_batch(model: FocalCodec) -> bool:
    """Only a causal codec gives each item of a padded batch exactly its own result."""
    return model.causal


def padded_length(model: FocalCodec, num_samples: int) -> int:
    """Samples the codec sees for an utterance of ``num_samples``: whole chunks for a causal codec.

    Parameters
    ----------
    model : FocalCodec
        The codec.
    num_samples : int
        Samples at 16 kHz.

    Returns
    -------
    int
        ``num_samples`` rounded up to a multiple of ``model.chunk_size`` (causal), else ``num_samples``.
    """
    if not model.causal:
        return num_samples
    chunk = model.chunk_size
    return -(-num_samples // chunk) * chunk


def num_tokens(model: FocalCodec, num_samples: int) -> int:
    """Tokens kept for an utterance of ``num_samples`` (the codec's own count, see ``FocalCodec.lengths``).

    Parameters
    ----------
    model : FocalCodec
        The codec.
    num_samples : int
        Samples at 16 kHz.

    Returns
    -------
    int
        Token count (``ceil(num_samples / hop_samples)`` for the causal models).
    """
    return int(model.lengths(torch.tensor([num_samples]))[1][0])


def duration_batches(
    model: FocalCodec, lengths: Sequence[int], max_duration: float, max_batch_size: int
) -> List[List[int]]:
    """Group items of ``lengths`` samples into batches (lists of indices): longest first, so a batch too big for
    memory shows up at once, with at most ``max_duration`` seconds of padded audio (the longest item's padded
    length times the batch size) and ``max_batch_size`` items; one item per batch when ``not can_batch``.

    Parameters
    ----------
    model : FocalCodec
        The codec (its rate, chunk size and causality).
    lengths : sequence of int
        Samples of each item at 16 kHz.
    max_duration : float
        Seconds of padded audio per batch; an item longer than this gets a batch of its own.
    max_batch_size : int
        Items per batch (values < 1 count as 1).

    Returns
    -------
    list of list of int
        Indices into ``lengths``, every index exactly once, longest items first.
    """
    limit = max(max_batch_size, 1) if can_batch(model) else 1
    rate = model.sample_rate_input
    groups: List[List[int]] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if groups and len(groups[-1]) < limit:
            longest = padded_length(model, lengths[groups[-1][0]]) / rate
            if longest * (len(groups[-1]) + 1) <= max_duration:
                groups[-1].append(index)
                continue
        groups.append([index])
    return groups


def _offline(model: FocalCodec, batch: Tensor):
    toks = model.sig_to_toks(batch)
    # a non-causal codec's frames need not cover the last samples; the model pads its output by repetition
    length = None if model.causal else model.output_length(batch.shape[-1])
    return toks, model.toks_to_sig(toks, output_length=length)


def _streaming(model: FocalCodec, batch: Tensor):
    """Chunk by chunk, as a live source would feed the codec: one encode step and one decode step per chunk."""
    toks, audio, _ = stream_signal(model, batch)
    return toks, audio


@torch.inference_mode()
def encode_decode(model: FocalCodec, signals: Sequence[Tensor], streaming: bool = False) -> List[CodecResult]:
    """Tokens and reconstruction of each 1-D signal (at ``model.sample_rate_input``), in one padded batch.

    ``streaming`` runs the causal codec chunk by chunk (same tokens as offline, same audio up to float rounding).
    A non-causal codec takes one signal per call (``can_batch``).

    Parameters
    ----------
    model : FocalCodec
        The codec, in eval mode, on the device to run on (the signals are moved there).
    signals : sequence of Tensor, each shape (n_i,) or (1, n_i), float, 16 kHz
        The utterances (mono).
    streaming : bool, default False
        Run chunk by chunk (causal codecs only).

    Returns
    -------
    list of CodecResult
        One per signal, in order, each cut to its own length, on the CPU.

    Raises
    ------
    ValueError
        ``streaming`` with a non-causal codec, several signals for a non-causal codec, or an empty signal.
    RuntimeError
        The codec returned fewer tokens or samples than the lengths promise (an internal consistency check).
    """
    if not signals:
        return []
    if streaming and not model.causal:
        raise ValueError("streaming decoding needs a causal codec; this one is not (decode offline instead)")
    if len(signals) > 1 and not can_batch(model):
        raise ValueError("a non-causal codec cannot decode a padded batch exactly; pass one signal per call")
    lengths = [int(sig.shape[-1]) for sig in signals]
    if min(lengths) == 0:
        raise ValueError("cannot encode an empty signal (0 samples)")
    device = next(model.parameters()).device
    batch = torch.zeros(len(signals), max(padded_length(model, n) for n in lengths), device=device)
    for row, sig in enumerate(signals):
        batch[row, : lengths[row]] = sig.to(device=device, dtype=batch.dtype).reshape(-1)
    toks, audio = _streaming(model, batch) if streaming else _offline(model, batch)
    results = []
    for row, n in enumerate(lengths):
        t, a = num_tokens(model, n), model.output_length(n)
        if toks.shape[-1] < t or audio.shape[-1] < a:
            raise RuntimeError(
                f"the codec returned {toks.shape[-1]} tokens / {audio.shape[-1]} samples for an input "
                f"of {n} samples; expected at least {t} / {a}"
            )
        results.append(CodecResult(toks[row, :t].cpu(), audio[row, :a].float().cpu()))
    return results
