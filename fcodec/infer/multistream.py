"""Many independent streams through one causal codec: one batched model call per 80 ms chunk step.

A server holding many live streams (calls, rooms) would call ``encode_step`` / ``decode_step`` once per stream
and chunk; ``MultiStreamCodec`` instead keeps every stream's state in a slot of preallocated per-slot tensors
and runs the chunk of all streams that brought one as a single batch::

    codec = MultiStreamCodec(model, max_streams=64)
    a, b = codec.open(), codec.open()
    out = codec.step({a: chunk_a, b: chunk_b})   # {a: (tokens, audio), b: (tokens, audio)}
    codec.close(a)                                # b goes on; a's slot serves the next open()

Streams join and leave at any chunk, and each one gets exactly what it would get alone: the same tokens as
``encode_step`` and the same audio as ``decode_step`` up to float rounding (the batched GEMMs may sum in
another order). ``encode`` and ``decode`` run one direction only (a sender, a receiver). Every call brings one
chunk per stream, ``model.chunk_size`` samples (or ``tokens_per_chunk`` tokens); a shorter one is the stream's
last (as ``final=True`` in ``fcodec.infer.streaming``): it is zero-padded to the chunk, its padding never
reaches its real frames (causal convs; masked as attention keys; zeros before the refiner, as a short call
pads), and that direction of the stream is finished.

What makes streams at different positions batchable with static shapes:

* the tails of the causal convs are per-slot tensors; a stream that starts now gets the first call's padding
  (replicate or zeros) in its row (``fcodec.models.common.FreshOrTail``), so no shape depends on who joined;
* the encoder's key/value cache is a fixed ``window_size - 1`` frames per slot; each row masks the frames
  before its stream began and takes its relative position bias from its own frame count
  (``WavLM.forward_streams``).

On CUDA, ``cuda_graphs=True`` captures the encode and the decode step of all ``max_streams`` slots as two CUDA
graphs (``torch.cuda.CUDAGraph``): each step then costs one graph replay plus the copies of the active slots'
inputs and states, whatever the number of kernels. The graphs always compute every slot (idle ones too), so
size ``max_streams`` to the load. Elsewhere (CPU) the flag logs a warning and the steps run eagerly on the
active slots only. Throughput: ``tools/benchmarks/bench_streams.py``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from fcodec.infer.slots import (
    CapturedStep,
    Rows,
    StreamRecord,
    by_slot,
    flatten_state,
    state_leaves,
    unflatten_state,
    with_fresh_rows,
)
from fcodec.infer.streaming import decode_step, encode_step, output_samples_per_token, tokens_per_chunk
from fcodec.models.codec import FocalCodec

__all__ = ["MultiStreamCodec"]

logger = logging.getLogger(__name__)


class MultiStreamCodec:
    """Serves up to ``max_streams`` independent streams of a causal codec, one batched call per chunk step.

    Parameters
    ----------
    model : FocalCodec
        A causal codec (``model.causal``) in eval mode; its device and dtype are used for the states.
    max_streams : int
        Slots: streams open at the same time.
    cuda_graphs : bool, default False
        On CUDA, capture the per-chunk steps of all slots as CUDA graphs (at construction); ignored with a
        warning on other devices.

    Raises
    ------
    ValueError
        ``model`` is not causal, or ``max_streams`` < 1.
    """

    def __init__(self, model: FocalCodec, max_streams: int, cuda_graphs: bool = False) -> None:
        if not model.causal:
            raise ValueError("MultiStreamCodec needs a causal codec (encoder, compressor, decoder causal)")
        if max_streams < 1:
            raise ValueError(f"max_streams must be at least 1, got {max_streams}")
        param = next(model.parameters())
        self.model = model
        self.device, self.dtype = param.device, param.dtype
        self.max_streams = max_streams
        self.chunk_size = model.chunk_size
        self.tokens_per_chunk = tokens_per_chunk(model)
        self.samples_per_token = output_samples_per_token(model)
        self.frames_per_chunk = model.chunk_size // model.encoder.downsample_factor
        self._streams: Dict[int, StreamRecord] = {}
        self._free = list(range(max_streams))
        self._next_id = 0

        # the nesting of each module's state, from one step of a throwaway stream
        probe = torch.zeros(1, self.chunk_size, dtype=self.dtype, device=self.device)
        toks, enc = encode_step(model, probe)
        _, dec = decode_step(model, toks)
        wavlm = enc.encoder
        encoder_tails = (list(wavlm.conv_tails), wavlm.pos_conv_tail, enc.compressor)
        self._encoder_spec = flatten_state(encoder_tails, [])
        self._decoder_spec = flatten_state((dec.decompressor, dec.decoder), [])
        slots = max_streams

        def per_slot(leaf: Tensor, *shape: int) -> Tensor:
            return torch.zeros((slots, *(shape or leaf.shape[1:])), dtype=leaf.dtype, device=self.device)

        self._encoder_tails = [per_slot(t) for t in state_leaves(encoder_tails)]
        heads, head_dim = wavlm.kv_cache[0][0].shape[1], wavlm.kv_cache[0][0].shape[3]
        past = model.encoder.window_size - 1  # as much as forward_causal keeps
        self._kv = [per_slot(t, heads, past, head_dim) for pair in wavlm.kv_cache for t in pair]
        self._decoder_tails = [per_slot(t) for t in state_leaves((dec.decompressor, dec.decoder))]
        self._frames_seen = torch.zeros(slots, dtype=torch.long, device=self.device)  # encoder frames per slot
        self._tokens_seen = torch.zeros(slots, dtype=torch.long, device=self.device)  # decoder tokens per slot

        self._graphs: Optional[Dict[str, Tuple[Any, Tensor, Tensor]]] = None
        if cuda_graphs and self.device.type != "cuda":
            logger.warning("cuda_graphs needs a CUDA device (the model is on %s): running eagerly", self.device)
        elif cuda_graphs:
            self._graphs = self._capture()

    # streams ------------------------------------------------------------------------------------------------
    @property
    def streams(self) -> List[int]:
        """Ids of the open streams."""
        return list(self._streams)

    @property
    def free_slots(self) -> int:
        return len(self._free)

    def open(self) -> int:
        """Start a stream; returns its id (never reused).

        Raises
        ------
        RuntimeError
            All ``max_streams`` slots hold open streams.
        """
        if not self._free:
            raise RuntimeError(
                f"all {self.max_streams} stream slots are in use: close a stream first, or make the "
                "MultiStreamCodec with a larger max_streams"
            )
        slot = min(self._free)  # streams packed in the low slots often form a range, read without copies
        self._free.remove(slot)
        # the masks and first-call padding already ignore what a slot held; zeros keep stale values (even a
        # non-finite one) from ever meeting a 0 attention weight
        for leaf in (*self._encoder_tails, *self._kv, *self._decoder_tails):
            leaf[slot].zero_()
        self._frames_seen[slot] = 0
        self._tokens_seen[slot] = 0
        stream_id = self._next_id
        self._next_id += 1
        self._streams[stream_id] = StreamRecord(slot)
        return stream_id

    def close(self, stream_id: int) -> None:
        """End a stream (finished or not) and free its slot.

        Raises
        ------
        KeyError
            ``stream_id`` is not open.
        """
        stream = self._stream(stream_id)
        del self._streams[stream_id]
        self._free.append(stream.slot)

    def _stream(self, stream_id: int) -> StreamRecord:
        try:
            return self._streams[stream_id]
        except (KeyError, TypeError):
            raise KeyError(f"stream {stream_id!r} is not open (open streams: {sorted(self._streams)})") from None

    def _take(self, stream_id: int, chunk: Tensor, side: str) -> Tuple[StreamRecord, Tensor, int]:
        """The open stream, its chunk as 1-D and the chunk's length (-1 if it is not 1-D); ``side`` names
        the side the chunk is for ('encoder' or 'decoder'), refused once a short last chunk ended it."""
        stream = self._stream(stream_id)
        if getattr(stream, f"{side}_finished"):
            raise RuntimeError(f"stream {stream_id}: finished by a short last chunk; open a new stream")
        chunk = torch.as_tensor(chunk)
        if chunk.dim() == 2 and chunk.shape[0] == 1:
            chunk = chunk[0]
        return stream, chunk, chunk.shape[-1] if chunk.dim() == 1 else -1

    # steps --------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, chunks: Mapping[int, Tensor]) -> Dict[int, Tuple[Tensor, Tensor]]:
        """Encode and decode one chunk of each stream in ``chunks``: ``{id: (tokens (k,), audio (m,))}``.

        The tokens are ``encode``'s, the audio ``decode``'s of those tokens (see both).
        """
        toks = self.encode(chunks)
        audio = self.decode(toks)
        return {stream_id: (toks[stream_id], audio[stream_id]) for stream_id in chunks}

    @torch.no_grad()
    def encode(self, chunks: Mapping[int, Tensor]) -> Dict[int, Tensor]:
        """Tokens of one chunk of each stream in ``chunks`` (any subset of the open streams).

        Parameters
        ----------
        chunks : mapping of stream id -> Tensor, shape (n,) or (1, n), float, 16 kHz
            ``n = model.chunk_size`` samples, or 1 <= n < chunk_size for a stream's last chunk (then its
            encoder side is finished).

        Returns
        -------
        dict of stream id -> Tensor, shape (k,), int64, on the model's device
            What ``encode_step`` gives that stream alone: ``tokens_per_chunk`` tokens, fewer for a short
            last chunk.

        Raises
        ------
        KeyError
            An id is not open.
        ValueError
            A chunk is not 1-D (or 1 x n), empty, or longer than a chunk.
        RuntimeError
            A stream's encoder side was finished by a short chunk.

        Nothing changes when any chunk is rejected.
        """
        if not chunks:
            return {}
        streams, sig, lengths = [], [], []
        for stream_id, chunk in chunks.items():
            stream, chunk, num = self._take(stream_id, chunk, "encoder")
            if not 1 <= num <= self.chunk_size:
                raise ValueError(
                    f"stream {stream_id}: a step takes one chunk of {self.chunk_size} samples per stream, shape "
                    f"({self.chunk_size},) (fewer only for the stream's last chunk); got shape {tuple(chunk.shape)}"
                )
            streams.append(stream)
            lengths.append(num)
            sig.append(torch.nn.functional.pad(chunk.to(dtype=self.dtype), (0, self.chunk_size - num)))
        ids, streams, sig, lengths = by_slot(list(chunks), streams, sig, lengths)
        down = self.model.encoder.downsample_factor
        frames = [-(-num // down) for num in lengths]  # a causal WavLM gives ceil(n / 320) frames
        rows = Rows([s.slot for s in streams], self.max_streams, self.device)
        valid = torch.tensor(frames, device=self.device)
        sig = torch.stack(sig).to(self.device)  # one copy to the device for all streams
        toks, tails, kv = self._run("encode", rows, sig, valid, any(s.samples == 0 for s in streams))
        rows.write(self._encoder_tails, tails, rebind=self._graphs is None)
        rows.write(self._kv, kv, rebind=self._graphs is None)
        out = dict.fromkeys(chunks)
        per_token = self.model.compressor.downsample_factor
        for i, (stream_id, stream, num) in enumerate(zip(ids, streams, lengths)):
            stream.samples += num
            stream.encoder_finished = num < self.chunk_size
            out[stream_id] = toks[i, : -(-frames[i] // per_token)].clone()
        rows.assign(self._frames_seen, [s.samples // down for s in streams])
        return out

    @torch.no_grad()
    def decode(self, tokens: Mapping[int, Tensor]) -> Dict[int, Tensor]:
        """Audio of one chunk of tokens of each stream in ``tokens`` (any subset of the open streams).

        Parameters
        ----------
        tokens : mapping of stream id -> Tensor, shape (k,) or (1, k), int64
            ``k = tokens_per_chunk`` tokens in ``[0, codebook_size)``, or fewer for a stream's last chunk (then
            its decoder side is finished).

        Returns
        -------
        dict of stream id -> Tensor, shape (k * samples_per_token,), float, on the model's device
            What ``decode_step`` gives that stream alone (up to float rounding), at ``sample_rate_output``.

        Raises
        ------
        KeyError
            An id is not open.
        ValueError
            A token chunk is not 1-D (or 1 x k), empty, longer than a chunk, or holds a token out of range.
        RuntimeError
            A stream's decoder side was finished by a short chunk.

        Nothing changes when any chunk is rejected.
        """
        if not tokens:
            return {}
        per_chunk, size = self.tokens_per_chunk, self.model.codebook_size
        streams, toks, counts = [], [], []
        for stream_id, chunk in tokens.items():
            stream, chunk, num = self._take(stream_id, chunk, "decoder")
            if not 1 <= num <= per_chunk or chunk.is_floating_point():
                raise ValueError(
                    f"stream {stream_id}: a decode step takes one chunk of {per_chunk} integer tokens per stream, "
                    f"shape ({per_chunk},) (fewer only for the stream's last chunk); got shape "
                    f"{tuple(chunk.shape)}, {chunk.dtype}"
                )
            if bool(((chunk < 0) | (chunk >= size)).any()):
                raise ValueError(f"stream {stream_id}: tokens must lie in [0, {size}), got {chunk.tolist()}")
            streams.append(stream)
            counts.append(num)
            toks.append(torch.nn.functional.pad(chunk.to(dtype=torch.long), (0, per_chunk - num)))
        ids, streams, toks, counts = by_slot(list(tokens), streams, toks, counts)
        rows = Rows([s.slot for s in streams], self.max_streams, self.device)
        valid = torch.tensor(counts, device=self.device)
        toks = torch.stack(toks).to(self.device)
        audio, tails = self._run("decode", rows, toks, valid, any(s.tokens == 0 for s in streams))
        rows.write(self._decoder_tails, tails, rebind=self._graphs is None)
        out = dict.fromkeys(tokens)
        for i, (stream_id, stream, num) in enumerate(zip(ids, streams, counts)):
            stream.tokens += num
            stream.decoder_finished = num < per_chunk
            out[stream_id] = audio[i, : num * self.samples_per_token].clone()
        rows.assign(self._tokens_seen, [s.tokens for s in streams])
        return out

    # the batched passes -------------------------------------------------------------------------------------
    def _encode_rows(
        self,
        sig: Tensor,
        frames_seen: Tensor,
        valid_frames: Tensor,
        tails: Sequence[Tensor],
        kv: Sequence[Tensor],
        any_fresh: bool = True,
    ) -> Tuple[Tensor, List[Tensor], List[Tensor]]:
        """Tokens ``(B, tokens_per_chunk)`` and the new states of one chunk of B streams (a pure function);
        ``any_fresh=False`` promises that no row starts its stream (its tails are then used as they are)."""
        tails = with_fresh_rows(tails, frames_seen == 0) if any_fresh else tails
        conv_tails, pos_tail, compressor = unflatten_state(self._encoder_spec, tails)
        feats, conv_tails, pos_tail, pairs = self.model.encoder.forward_streams(
            sig, frames_seen, valid_frames, conv_tails, pos_tail, list(zip(kv[0::2], kv[1::2]))
        )
        lats, compressor = self.model.feats_to_lats(feats, compressor, return_state=True)
        new_tails = state_leaves((conv_tails, pos_tail, compressor))
        return self.model.lats_to_toks(lats), new_tails, [t for pair in pairs for t in pair]

    def _decode_rows(
        self, toks: Tensor, tokens_seen: Tensor, valid_tokens: Tensor, tails: Sequence[Tensor], any_fresh: bool = True
    ) -> Tuple[Tensor, List[Tensor]]:
        """Audio ``(B, tokens_per_chunk * samples_per_token)`` and the new states of one chunk of B streams."""
        tails = with_fresh_rows(tails, tokens_seen == 0) if any_fresh else tails
        decompressor, decoder = unflatten_state(self._decoder_spec, tails)
        up = self.model.decompressor.upsample_factor
        qfeats, decompressor = self.model.decompressor(
            self.model.toks_to_codes(toks), decompressor, valid_frames=valid_tokens * up
        )
        audio, decoder = self.model.decoder(qfeats, decoder)
        return audio, state_leaves((decompressor, decoder))

    def _run(self, direction: str, rows: "Rows", inputs: Tensor, valid: Tensor, any_fresh: bool):
        """The ``direction`` pass over ``rows``: eagerly on those slots, or by replaying the graph of all slots
        and keeping those rows."""
        if self._graphs is None:
            if direction == "encode":
                return self._encode_rows(
                    inputs,
                    rows.read(self._frames_seen),
                    valid,
                    [rows.read(t) for t in self._encoder_tails],
                    [rows.read(t) for t in self._kv],
                    any_fresh,
                )
            return self._decode_rows(
                inputs, rows.read(self._tokens_seen), valid, [rows.read(t) for t in self._decoder_tails], any_fresh
            )
        graph, static_inputs, static_valid = self._graphs[direction]
        rows.write([static_inputs, static_valid], [inputs, valid], rebind=False)
        outputs = graph.replay()
        return tuple(rows.read(x) if isinstance(x, Tensor) else [rows.read(t) for t in x] for x in outputs)

    def _capture(self, step_class: Callable = CapturedStep) -> Dict[str, Tuple[Any, Tensor, Tensor]]:
        """CUDA graphs of the encode and decode passes over all slots, reading the per-slot states in place
        (``step_class=StaticStep``: the same passes run eagerly, on any device)."""
        slots = self.max_streams
        sig = torch.zeros(slots, self.chunk_size, dtype=self.dtype, device=self.device)
        frames = torch.full((slots,), self.frames_per_chunk, dtype=torch.long, device=self.device)
        toks = torch.zeros(slots, self.tokens_per_chunk, dtype=torch.long, device=self.device)
        counts = torch.full((slots,), self.tokens_per_chunk, dtype=torch.long, device=self.device)
        encode = step_class(lambda: self._encode_rows(sig, self._frames_seen, frames, self._encoder_tails, self._kv))
        decode = step_class(lambda: self._decode_rows(toks, self._tokens_seen, counts, self._decoder_tails))
        return {"encode": (encode, sig, frames), "decode": (decode, toks, counts)}
