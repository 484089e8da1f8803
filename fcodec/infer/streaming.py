"""Chunk-by-chunk streaming through a causal codec, with explicit state.

The unit is the codec's chunk: ``model.chunk_size`` input samples (1280 = 80 ms at 16 kHz), giving
``model.chunk_size // model.hop_samples`` tokens (4 at 50 Hz, 2 at 25 Hz, 1 at 12.5 Hz) and
``model.chunk_size * sr_out / sr_in`` output samples (1920 at 24 kHz). Every call except the last must bring
whole chunks; the last (``final=True``) may be shorter. Tokens equal those of one offline pass over the whole
signal, and so does the audio (up to float rounding).

Two layers:

* functional steps, ``encode_step(model, chunk, state) -> (toks, state)`` and
  ``decode_step(model, toks, state) -> (audio, state)``: the state is an explicit value, never modified in
  place, so a stream can be forked, replayed or interleaved with others;
* ``StreamingEncoder`` / ``StreamingDecoder`` / ``StreamingCodec``: buffer arbitrary-sized input and call the
  steps whenever a whole chunk is available (``push``), then ``flush`` the remainder.

A whole signal or file streamed as a live source would be: :mod:`fcodec.infer.stream_run`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import torch
from torch import Tensor

from fcodec.models.codec import FocalCodec

__all__ = [
    "EncoderState",
    "DecoderState",
    "encode_step",
    "decode_step",
    "StreamingEncoder",
    "StreamingDecoder",
    "StreamingCodec",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderState:
    """State of the signal -> token direction: encoder and compressor states, samples consumed."""

    encoder: Any = None
    compressor: Any = None
    samples: int = 0
    finished: bool = False


@dataclass(frozen=True)
class DecoderState:
    """State of the token -> signal direction: decompressor and decoder states, tokens consumed."""

    decompressor: Any = None
    decoder: Any = None
    tokens: int = 0
    finished: bool = False


def _require_causal(model: FocalCodec) -> None:
    if not model.causal:
        raise ValueError("streaming needs a causal codec (encoder, compressor, decompressor and decoder causal)")


def tokens_per_chunk(model: FocalCodec) -> int:
    return max(model.chunk_size // model.hop_samples, 1)


def output_samples_per_token(model: FocalCodec) -> int:
    return model.hop_samples * model.sample_rate_output // model.sample_rate_input


def as_batch(x: Tensor) -> Tensor:
    return x[None] if x.dim() == 1 else x


@torch.no_grad()
def encode_step(
    model: FocalCodec, chunk: Tensor, state: Optional[EncoderState] = None, final: bool = False
) -> Tuple[Tensor, EncoderState]:
    """Encode ``chunk`` (``(B, n)`` or ``(n,)`` samples at 16 kHz) -> ``(toks (B, k), new_state)``.

    ``n`` must be a positive multiple of ``model.chunk_size`` unless ``final`` is set (then any n >= 1).

    Parameters
    ----------
    model : FocalCodec
        A causal codec (``model.causal``).
    chunk : Tensor, shape (B, n) or (n,), float, 16 kHz
        The next samples of the stream.
    state : EncoderState, optional
        The state returned by the previous step of this stream; None starts a new stream.
    final : bool, default False
        This is the stream's last call (then ``chunk`` may be a partial chunk); the returned state is finished.

    Returns
    -------
    toks : Tensor, shape (B, k), int64
        Tokens of these samples, k = n / ``model.hop_samples`` for whole chunks (ceil for a final partial one).
    state : EncoderState
        The new state (the given one is not modified).

    Raises
    ------
    ValueError
        ``model`` is not causal, or ``chunk`` is empty or (not ``final``) not a whole number of chunks.
    RuntimeError
        ``state`` belongs to a finished stream.
    """
    _require_causal(model)
    state = state or EncoderState()
    if state.finished:
        raise RuntimeError("this stream was finished (final=True); start a new one with a fresh state")
    chunk = as_batch(chunk)
    num = chunk.shape[-1]
    if num == 0 or (not final and num % model.chunk_size):
        raise ValueError(
            f"streaming encode got {num} samples: every call must bring a positive multiple of "
            f"{model.chunk_size} samples ({model.latency:.0f} ms at {model.sample_rate_input} Hz); only the last "
            "call of a stream (final=True) may be shorter"
        )
    toks, enc, comp = model.sig_to_toks(chunk, state.encoder or (), state.compressor or (), return_state=True)
    return toks, EncoderState(enc, comp, state.samples + num, final)


@torch.no_grad()
def decode_step(
    model: FocalCodec, toks: Tensor, state: Optional[DecoderState] = None, final: bool = False
) -> Tuple[Tensor, DecoderState]:
    """Decode ``toks`` (``(B, k)``) -> ``(audio (B, k * samples_per_token), new_state)`` at the output rate.

    ``k`` must be a positive multiple of the tokens per chunk (4 / 2 / 1 at 50 / 25 / 12.5 Hz) unless ``final``,
    because the decompressor's refiner works on whole chunks.

    Parameters
    ----------
    model : FocalCodec
        A causal codec (``model.causal``).
    toks : Tensor, shape (B, k) or (k,), int64
        The next tokens of the stream, in ``[0, model.codebook_size)``.
    state : DecoderState, optional
        The state returned by the previous step of this stream; None starts a new stream.
    final : bool, default False
        This is the stream's last call (then ``toks`` may be a partial chunk); the returned state is finished.

    Returns
    -------
    audio : Tensor, shape (B, k * samples_per_token), float
        Waveform at ``model.sample_rate_output``; samples_per_token = ``hop_samples * sr_out / sr_in`` (480 for
        the 50 Hz causal models at 24 kHz). Not trimmed to the input length (``StreamingCodec.flush`` does that).
    state : DecoderState
        The new state (the given one is not modified).

    Raises
    ------
    ValueError
        ``model`` is not causal, or ``toks`` is empty or (not ``final``) not a whole number of chunks.
    RuntimeError
        ``state`` belongs to a finished stream.
    """
    _require_causal(model)
    state = state or DecoderState()
    if state.finished:
        raise RuntimeError("this stream was finished (final=True); start a new one with a fresh state")
    toks = as_batch(toks)
    num = toks.shape[-1]
    per_chunk = tokens_per_chunk(model)
    if num == 0 or (not final and num % per_chunk):
        raise ValueError(
            f"streaming decode got {num} tokens: every call must bring a positive multiple of {per_chunk} tokens "
            "(one chunk); only the last call of a stream (final=True) may be shorter"
        )
    audio, decomp, dec = model.toks_to_sig(toks, state.decompressor or (), state.decoder or (), return_state=True)
    return audio, DecoderState(decomp, dec, state.tokens + num, final)


class StreamingEncoder:
    """Buffers samples and emits tokens chunk by chunk.

    Parameters
    ----------
    model : FocalCodec
        A causal codec (``model.causal``).

    Raises
    ------
    ValueError
        ``model`` is not causal.
    """

    def __init__(self, model: FocalCodec) -> None:
        _require_causal(model)
        self.model = model
        self.reset()

    def reset(self) -> None:
        self.state = EncoderState()
        self._buffer: Optional[Tensor] = None

    def push(self, samples: Tensor) -> Tensor:
        """Add samples; return the tokens of every chunk completed so far (possibly none).

        Parameters
        ----------
        samples : Tensor, shape (B, n) or (n,), float, 16 kHz
            Any number of samples; B must stay the same within a stream.

        Returns
        -------
        Tensor, shape (B, k), int64
            Tokens of the newly completed chunks (k may be 0).
        """
        samples = as_batch(samples)
        self._buffer = samples if self._buffer is None else torch.cat([self._buffer, samples], dim=-1)
        ready = self._buffer.shape[-1] // self.model.chunk_size * self.model.chunk_size
        if ready == 0:
            return self._buffer.new_zeros((self._buffer.shape[0], 0), dtype=torch.long)
        chunk, self._buffer = self._buffer[:, :ready], self._buffer[:, ready:]
        toks, self.state = encode_step(self.model, chunk, self.state)
        return toks

    def flush(self) -> Tensor:
        """Encode what is left (a partial chunk) and finish the stream.

        Returns
        -------
        Tensor, shape (B, k), int64
            Tokens of the remaining samples (k may be 0). ``reset`` starts a new stream.
        """
        buffer, self._buffer = self._buffer, None
        if buffer is None or buffer.shape[-1] == 0:
            self.state = EncoderState(self.state.encoder, self.state.compressor, self.state.samples, True)
            return torch.zeros((0 if buffer is None else buffer.shape[0], 0), dtype=torch.long)
        toks, self.state = encode_step(self.model, buffer, self.state, final=True)
        return toks


class StreamingDecoder:
    """Buffers tokens and emits audio chunk by chunk.

    Parameters
    ----------
    model : FocalCodec
        A causal codec (``model.causal``).

    Raises
    ------
    ValueError
        ``model`` is not causal.
    """

    def __init__(self, model: FocalCodec) -> None:
        _require_causal(model)
        self.model = model
        self.per_chunk = tokens_per_chunk(model)
        self.reset()

    def reset(self) -> None:
        self.state = DecoderState()
        self._buffer: Optional[Tensor] = None

    def push(self, toks: Tensor) -> Tensor:
        """Add tokens; return the audio of every whole chunk of tokens so far (possibly none).

        Parameters
        ----------
        toks : Tensor, shape (B, k) or (k,), int64
            Any number of tokens.

        Returns
        -------
        Tensor, shape (B, m), float
            Audio at ``model.sample_rate_output`` of the newly completed chunks (m may be 0).
        """
        toks = as_batch(toks)
        self._buffer = toks if self._buffer is None else torch.cat([self._buffer, toks], dim=-1)
        ready = self._buffer.shape[-1] // self.per_chunk * self.per_chunk
        if ready == 0:
            return torch.zeros((self._buffer.shape[0], 0))
        chunk, self._buffer = self._buffer[:, :ready], self._buffer[:, ready:]
        audio, self.state = decode_step(self.model, chunk, self.state)
        return audio

    def flush(self) -> Tensor:
        """Decode what is left (a partial chunk) and finish the stream.

        Returns
        -------
        Tensor, shape (B, m), float
            Audio of the remaining tokens (m may be 0), not trimmed.
        """
        buffer, self._buffer = self._buffer, None
        if buffer is None or buffer.shape[-1] == 0:
            self.state = DecoderState(self.state.decompressor, self.state.decoder, self.state.tokens, True)
            return torch.zeros((0 if buffer is None else buffer.shape[0], 0))
        audio, self.state = decode_step(self.model, buffer, self.state, final=True)
        return audio


class StreamingCodec:
    """Samples in, ``(tokens, reconstruction)`` out, one chunk at a time (80 ms algorithmic latency).

    Parameters
    ----------
    model : FocalCodec
        A causal codec (``model.causal``).

    Raises
    ------
    ValueError
        ``model`` is not causal.
    """

    def __init__(self, model: FocalCodec) -> None:
        self.model = model
        self.encoder = StreamingEncoder(model)
        self.decoder = StreamingDecoder(model)

    def reset(self) -> None:
        self.encoder.reset()
        self.decoder.reset()

    def push(self, samples: Tensor) -> Tuple[Tensor, Tensor]:
        """Add samples; return the tokens and audio of every chunk completed so far.

        Parameters
        ----------
        samples : Tensor, shape (B, n) or (n,), float, 16 kHz
            Any number of samples.

        Returns
        -------
        toks : Tensor, shape (B, k), int64
            Tokens of the newly completed chunks (k may be 0).
        audio : Tensor, shape (B, m), float
            Their reconstruction at ``model.sample_rate_output``.
        """
        toks = self.encoder.push(samples)
        return toks, self.decoder.push(toks) if toks.shape[-1] else torch.zeros((toks.shape[0], 0))

    def flush(self) -> Tuple[Tensor, Tensor]:
        """Finish the stream; the audio is trimmed so that the total is ``samples_in * sr_out / sr_in``.

        Returns
        -------
        toks : Tensor, shape (B, k), int64
            Tokens of the remaining samples.
        audio : Tensor, shape (B, m), float
            The rest of the reconstruction: the stream's total output is ``model.output_length(samples_in)``.
        """
        produced = self.decoder.state.tokens * output_samples_per_token(self.model)
        toks = self.encoder.flush()
        audio = [self.decoder.push(toks)] if toks.shape[-1] else []
        audio.append(self.decoder.flush())
        audio = torch.cat(audio, dim=-1)
        expected = self.model.output_length(self.encoder.state.samples)
        return toks, audio[:, : max(expected - produced, 0)]
