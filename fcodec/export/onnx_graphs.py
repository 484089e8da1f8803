"""The codec as ONNX graphs: the modules that trace, with standard operators only, into ``torch.onnx.export``.

Four graphs (docs/export.md):

* ``encode``: waveform ``(B, N)`` at 16 kHz, N dynamic -> tokens ``(B, L)`` int64 and latents ``(B, L, D)``;
* ``decode``: tokens ``(B, L)``, L dynamic -> waveform ``(B, L * samples_per_token)`` at the output rate;
* ``stream_encode`` / ``stream_decode`` (causal models): one 80 ms chunk (or its tokens) of B streams, with
  every piece of streaming state an input and, updated, an output of the same shape.

The layers run as plain PyTorch modules while exporting (``common.inference_path`` is off inside
``torch.onnx.export``). Two computations are rewritten here because their eager form fixes the length at
trace time: the causal encoder's chunked attention mask (built per call from Python ints) and the decompressor's
chunk refiner (zero-pads to whole chunks by a Python-computed amount). The streaming graphs are the batched
steps of ``fcodec.infer.multistream`` (fixed-shape states: conv tails with first-call padding per row, a
``window_size - 1``-frame key/value cache masked before each stream's start), traced for one slot per row,
with the layers in their fixed-shape forms (``fcodec.models.export_forms``: convs as matrix products).
The Vocos decoder of the non-causal models ends in an inverse STFT (complex tensors and ``irfft``, which ONNX
lacks): ``istft_head`` computes it as two matrix products with the real inverse-DFT basis and an overlap-add
by a transposed convolution with an identity kernel. The causal models' WaveNeXt emits samples from a linear
head.
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.infer.multistream import MultiStreamCodec
from fcodec.infer.streaming import tokens_per_chunk
from fcodec.models.codec import FocalCodec
from fcodec.models.export_forms import fixed_shape_export
from fcodec.models.focalnet import ChunkFeedForward, FocalEncoder
from fcodec.models.vocos import ISTFTHead, Vocos
from fcodec.models.wavlm import TransformerEncoder

__all__ = ["OPSET", "EncodeGraph", "DecodeGraph", "StreamEncodeGraph", "StreamDecodeGraph"]

OPSET = 17  # LayerNormalization is standard from 17; onnxruntime runs it on CPU and CUDA


def _positions(x: Tensor) -> Tensor:
    """``0 .. T-1`` for the T frames of time-major ``x``, computed from ``x`` so that T stays dynamic in the
    graph (``torch.arange(x.shape[1])`` would be traced as a constant)."""
    return torch.ones_like(x[0, :, 0], dtype=torch.long).cumsum(0) - 1


def causal_transformer(encoder: TransformerEncoder, x: Tensor) -> Tensor:
    """``TransformerEncoder.forward_causal`` over a whole signal from frame 0 in one pass: the same keys per
    query (``key_window``: its chunk and ``window_size`` frames back from the chunk end, clipped to the signal)
    and the same relative position bias, as tensor ops of the frame count."""
    idx = _positions(x)
    chunk, window = encoder.chunk_frames, encoder.window_size
    total = idx[-1:] + 1
    ends = torch.minimum(torch.div(idx, chunk, rounding_mode="floor") * chunk + chunk, total)
    visible = (idx[None, :] >= (ends - window)[:, None]) & (idx[None, :] < ends[:, None])
    mask = torch.where(visible, torch.zeros((), dtype=x.dtype), torch.full((), float("-inf"), dtype=x.dtype))
    buckets = encoder.bucket(idx[None, :] - idx[:, None])  # (Q, K), offsets key - query
    position_bias = F.embedding(buckets, encoder.relative_embedding.weight).permute(2, 0, 1).to(x.dtype)
    pos, _ = encoder.positional_embedding(x)
    x = encoder.dropout(x + pos)
    for layer in encoder.layers:
        x, _ = layer(x, position_bias, mask, None)
    return x


def chunk_refiner(refiner: ChunkFeedForward, x: Tensor) -> Tensor:
    """``ChunkFeedForward`` with its input projection as a strided convolution (kernel = stride = chunk): the
    last partial chunk meets zeros through a constant right padding, whatever the length."""
    chunk, dim = refiner.chunk_size, refiner.dim
    hidden = refiner.in_proj.weight.shape[0]
    weight = refiner.in_proj.weight.view(hidden, chunk, dim).permute(0, 2, 1)  # flattened chunk = frame-major
    padded = F.pad(x.transpose(1, 2), (0, chunk - 1))
    y = F.conv1d(padded, weight, refiner.in_proj.bias, stride=chunk).transpose(1, 2)  # (B, chunks, hidden)
    y = refiner.out_proj(F.gelu(y))
    y = y.reshape(y.shape[0], -1, dim)[:, : x.shape[1]]
    return x + y


def _inverse_dft_basis(n_fft: int) -> Tuple[Tensor, Tensor]:
    """``(C, S)``, each ``(n_fft // 2 + 1, n_fft)``: ``irfft(re + i im) = re @ C + im @ S`` (the imaginary parts
    of the DC and Nyquist bins are ignored, as ``irfft`` ignores them)."""
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    weight = torch.full_like(k, 2.0)
    weight[0] = weight[-1] = 1.0  # the bins that have no mirrored twin
    angle = 2 * math.pi * k * n / n_fft
    return (weight * torch.cos(angle) / n_fft).float(), (-weight * torch.sin(angle) / n_fft).float()


def _overlap_add(frames: Tensor, n_fft: int, hop: int) -> Tensor:
    """Frames ``(B, n_fft, T)`` summed every ``hop`` samples -> ``(B, (T - 1) * hop + n_fft)``: a transposed conv
    whose kernel places channel j at offset j."""
    eye = torch.eye(n_fft, dtype=frames.dtype)[:, None, :]
    return F.conv_transpose1d(frames, eye, stride=hop)[:, 0]


def istft_head(head: ISTFTHead, x: Tensor) -> Tensor:
    """``ISTFTHead`` (Vocos) with the inverse FFT as matrix products and the overlap-add as a transposed conv."""
    istft = head.istft
    y = head.proj(x)
    log_mag, phase = y.chunk(2, dim=-1)
    mag = log_mag.exp().clamp(max=1e2)
    cos, sin = _inverse_dft_basis(istft.n_fft)
    frames = (mag * phase.cos()) @ cos + (mag * phase.sin()) @ sin  # (B, T, n_fft)
    if istft.causal:
        return frames[..., -istft.hop_length :].reshape(frames.shape[0], -1)
    frames = (frames * istft.window).transpose(1, 2)
    signal = _overlap_add(frames, istft.n_fft, istft.hop_length)
    window_sq = istft.window_sq[None, :, None] * torch.ones_like(frames[:1, :1])
    envelope = _overlap_add(window_sq, istft.n_fft, istft.hop_length)
    crop = istft.crop
    if crop == 0:
        return signal / envelope
    return signal[:, crop:-crop] / envelope[:, crop:-crop]


def decode_features(decoder: nn.Module, x: Tensor) -> Tensor:
    """The decoder (WaveNeXt or Vocos) of features ``(B, T, C)`` -> waveform, as it exports."""
    if isinstance(decoder, Vocos):
        x, _ = decoder.backbone(x)
        return istft_head(decoder.head, x)
    sig, _ = decoder(x)
    return sig


def compress(compressor: FocalEncoder, x: Tensor) -> Tensor:
    """``FocalEncoder`` from a fresh state. A non-causal ``DownScale`` right-pads by ``(T - s) % s`` frames,
    computed in Python; padding by ``s - 1`` instead gives the same ``ceil(T / s)`` frames from the same
    inputs (the conv never reads the extra zeros) with a constant pad."""
    for layer in compressor.layers:
        down = layer.downscale
        if down.causal or down.factor == 1:
            x, _ = down(x)
        else:
            x = F.pad(x, (0, 0, 0, down.factor - 1)).transpose(1, 2)
            x = down.activation(down.downscale(x).transpose(1, 2))
        x, _ = layer.focal_block(x)
    return compressor.out_proj(compressor.dropout(x))


class EncodeGraph(nn.Module):
    """Waveform ``(B, N)`` at 16 kHz -> ``(tokens (B, L) int64, latents (B, L, D))`` (the offline pass)."""

    input_names = ["signal"]
    output_names = ["tokens", "latents"]
    dynamic_axes = {
        "signal": {0: "batch", 1: "samples"},
        "tokens": {0: "batch", 1: "frames"},
        "latents": {0: "batch", 1: "frames"},
    }

    def __init__(self, codec: FocalCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, signal: Tensor) -> Tuple[Tensor, Tensor]:
        wavlm = self.codec.encoder
        if wavlm.causal:
            feats, _ = wavlm._front_end(signal, None)
            feats = causal_transformer(wavlm.encoder, feats)
        else:
            feats, _ = wavlm(signal)
        lats = F.normalize(compress(self.codec.compressor, feats), dim=-1)
        return self.codec.lats_to_toks(lats), lats


class DecodeGraph(nn.Module):
    """Tokens ``(B, L)`` int64 -> waveform ``(B, L * samples_per_token)`` at the output rate (not trimmed to an
    input length: the runtime cuts it to ``output_length``, as ``FocalCodec.forward`` does)."""

    input_names = ["tokens"]
    output_names = ["audio"]
    dynamic_axes = {"tokens": {0: "batch", 1: "frames"}, "audio": {0: "batch", 1: "samples"}}

    def __init__(self, codec: FocalCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, tokens: Tensor) -> Tensor:
        decompressor = self.codec.decompressor
        x = decompressor.dropout(decompressor.in_proj(self.codec.toks_to_codes(tokens)))
        for layer in decompressor.layers:
            x, _ = layer(x)
        if decompressor.refiner is not None:
            x = chunk_refiner(decompressor.refiner, x)
        return decode_features(self.codec.decoder, x)


def _names(prefix: str, count: int) -> List[str]:
    return [f"{prefix}{i}" for i in range(count)]


class StreamGraph(nn.Module):
    """Shared by the two streaming graphs: the per-stream state tensors of ``MultiStreamCodec`` (one slot)."""

    def __init__(self, codec: FocalCodec) -> None:
        super().__init__()
        self.codec = codec
        # not a submodule attribute: the graphs hold the codec's weights once
        self.__dict__["_steps"] = MultiStreamCodec(codec, max_streams=1)
        self.__dict__["_relaid"] = {}  # the layers' re-laid-out weights (export_forms.fixed_shape_export)

    def hold_relaid_weights(self) -> None:
        """Register the re-laid-out weights of an eager run as buffers: the exporter then stores them as
        initializers, like the codec's weights (the int8 quantiser quantises only products with initializers)."""
        for i, weight in enumerate(self._relaid.values()):
            self.register_buffer(f"relaid{i}", weight)

    def state_shapes(self) -> Dict[str, List[int]]:
        """Per-stream shape (without the batch axis) of each state input, in input order."""
        return {name: list(t.shape[1:]) for name, t in zip(self.state_names, self.initial_state())}

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        names = self.input_names + self.output_names
        return {name: {0: "batch"} for name in names}


class StreamEncodeGraph(StreamGraph):
    """One chunk of B streams: ``(signal (B, chunk_size), valid_frames (B,), frames_seen (B,), *state)`` ->
    ``(tokens (B, tokens_per_chunk), frames_seen', *state')``. ``valid_frames`` < the chunk's frames marks a
    stream's final, zero-padded partial chunk; a new stream starts with ``frames_seen`` 0 and zero states."""

    def __init__(self, codec: FocalCodec) -> None:
        super().__init__(codec)
        steps = self._steps
        self.num_tails, self.num_kv = len(steps._encoder_tails), len(steps._kv)
        self.state_names = _names("encoder_tail", self.num_tails) + _names("encoder_kv", self.num_kv)
        self.input_names = ["signal", "valid_frames", "frames_seen"] + self.state_names
        self.output_names = ["tokens", "frames_seen_out"] + [f"{n}_out" for n in self.state_names]

    def initial_state(self) -> List[Tensor]:
        return [t.clone() for t in (*self._steps._encoder_tails, *self._steps._kv)]

    def example_inputs(self) -> Tuple[Tensor, ...]:
        frames = torch.full((1,), self._steps.frames_per_chunk, dtype=torch.long)
        signal = torch.zeros(1, self.codec.chunk_size)
        return (signal, frames, torch.zeros(1, dtype=torch.long), *self.initial_state())

    def forward(self, signal: Tensor, valid_frames: Tensor, frames_seen: Tensor, *state: Tensor):
        tails, kv = list(state[: self.num_tails]), list(state[self.num_tails :])
        with fixed_shape_export(self._relaid):
            toks, tails, kv = self._steps._encode_rows(signal, frames_seen, valid_frames, tails, kv)
        return (toks, frames_seen + valid_frames, *tails, *kv)


class StreamDecodeGraph(StreamGraph):
    """One chunk of tokens of B streams: ``(tokens (B, tokens_per_chunk), valid_tokens (B,), tokens_seen (B,),
    *state)`` -> ``(audio (B, tokens_per_chunk * samples_per_token), tokens_seen', *state')``."""

    def __init__(self, codec: FocalCodec) -> None:
        super().__init__(codec)
        self.num_tails = len(self._steps._decoder_tails)
        self.state_names = _names("decoder_tail", self.num_tails)
        self.input_names = ["tokens", "valid_tokens", "tokens_seen"] + self.state_names
        self.output_names = ["audio", "tokens_seen_out"] + [f"{n}_out" for n in self.state_names]

    def initial_state(self) -> List[Tensor]:
        return [t.clone() for t in self._steps._decoder_tails]

    def example_inputs(self) -> Tuple[Tensor, ...]:
        per_chunk = tokens_per_chunk(self.codec)
        toks = torch.zeros(1, per_chunk, dtype=torch.long)
        valid = torch.full((1,), per_chunk, dtype=torch.long)
        return (toks, valid, torch.zeros(1, dtype=torch.long), *self.initial_state())

    def forward(self, tokens: Tensor, valid_tokens: Tensor, tokens_seen: Tensor, *state: Tensor):
        with fixed_shape_export(self._relaid):
            audio, tails = self._steps._decode_rows(tokens, tokens_seen, valid_tokens, list(state))
        return (audio, tokens_seen + valid_tokens, *tails)


def export_graph(graph: nn.Module, example: Tuple[Tensor, ...], path, input_names, output_names, dynamic_axes):
    """``torch.onnx.export`` with the TorchScript exporter (the dynamo one needs ``onnxscript``, which the project
    does not install), at ``OPSET``, weights inside the file (each graph is under protobuf's 2 GB)."""
    with torch.no_grad():
        torch.onnx.export(
            graph,
            example,
            str(path),
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
