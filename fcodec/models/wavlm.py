"""WavLM encoder: the first layers of WavLM-large, optionally causal and streaming (FocalCodec-Stream).

Contract: docs/architecture.md, Pipeline. State-dict names and shapes follow upstream ``focalcodec/wavlm.py`` v0.0.2, so
checkpoints are interchangeable; the implementation (time-major GEMM convs, relative bias computed on the fly,
functional key/value cache) is our own.

Streaming state (``WavLMState``) holds, for a causal encoder: how many past frames the key/value cache holds
(``window_size - 1``, enough for a final partial chunk to see what the offline pass sees), the tails of every causally padded conv input, and per layer the cached keys
and values. States are never modified in place, so a state can be reused or shared between calls.

Over 400 lines by design (one of the project's at most three such model files): it mirrors upstream's ``wavlm.py``
module for module, so its state-dict names can be checked against upstream's side by side, and it holds one
concern, the WavLM encoder; the shared layers and kernels are in :mod:`fcodec.models.common`.
"""

from __future__ import annotations

import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models import kernel_choice
from fcodec.models.common import (
    FeedForward,
    Tail,
    apply_linear,
    cached_weight,
    causal_left,
    conv1d_time_major,
    gelu,
    inference_path,
    pad_time,
    relaid_linear,
    rows_class,
)
from fcodec.models.export_forms import MAX_WINDOWS, exporting_fixed_shapes, grouped_conv_matmuls

__all__ = ["WavLM", "WavLMState"]

SAMPLE_RATE = 16000


class WavLMState(NamedTuple):
    """Streaming state of a causal ``WavLM`` (see the module docstring)."""

    frames_seen: int
    conv_tails: Tuple[Tensor, ...]
    pos_conv_tail: Tensor
    kv_cache: Tuple[Tuple[Tensor, Tensor], ...]


class ConvBlock(nn.Module):
    """Front-end layer: bias-free strided conv, dropout, LayerNorm over channels, GELU."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, stride: int, dropout: float, causal: bool):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.causal = causal
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size, stride, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)
        self.activation = nn.GELU()

    def forward(self, x: Tensor, tail: Optional[Tensor] = None) -> Tuple[Tensor, Optional[Tensor]]:
        left = None
        if self.causal:
            # left pad by k - 1: every layer then yields ceil(T / stride) frames
            left, tail = causal_left(x, self.kernel_size - 1, tail, "replicate")
        elif x.shape[1] < self.kernel_size:
            # inputs shorter than the kernel are zero-padded on the right to give one frame
            x = F.pad(x, (0, 0, 0, self.kernel_size - x.shape[1]))
        x = conv1d_time_major(x, self.conv, self.stride, left)
        x = self.dropout(x)
        x = self.norm(x)
        return gelu(x), tail


class FeatureExtractor(nn.Module):
    def __init__(
        self,
        hidden_dims: Sequence[int],
        kernel_sizes: Sequence[int],
        strides: Sequence[int],
        dropout: float,
        causal: bool,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        in_dim = 1
        for hidden_dim, kernel_size, stride in zip(hidden_dims, kernel_sizes, strides):
            self.layers.append(ConvBlock(in_dim, hidden_dim, kernel_size, stride, dropout, causal))
            in_dim = hidden_dim

    def forward(self, x: Tensor, tails: Optional[Sequence[Tensor]] = None) -> Tuple[Tensor, List[Optional[Tensor]]]:
        new_tails = []
        for i, layer in enumerate(self.layers):
            x, tail = layer(x, None if tails is None else tails[i])
            new_tails.append(tail)
        return x, new_tails


class ConvPositionalEmbedding(nn.Module):
    """Grouped positional conv followed by GELU (weight stored already folded, no weight norm)."""

    def __init__(self, dim: int, kernel_size: int, groups: int, causal: bool) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.groups = groups
        self.causal = causal
        self.conv = nn.Conv1d(dim, dim, kernel_size, padding=0 if causal else kernel_size // 2, groups=groups)
        self.activation = nn.GELU()

    def _grouped_gemm(self, x: Tensor) -> Tensor:
        """The grouped conv of a padded time-major ``(B, T + k - 1, C)`` input as one batched GEMM per group."""
        batch, padded, dim = x.shape
        k, groups = self.kernel_size, self.groups
        width = dim // groups
        out_time = padded - k + 1
        # (B, G, T + k - 1, c): then frame t of group g is k * c contiguous values
        xg = x.view(batch, padded, groups, width).permute(0, 2, 1, 3).contiguous()
        frames = xg.as_strided((batch, groups, out_time, k * width), (xg.stride(0), xg.stride(1), width, 1))
        weight = cached_weight(
            self.conv,
            "grouped_gemm",
            self.conv.weight,
            lambda w: w.view(groups, width, width, k).permute(0, 3, 2, 1).reshape(groups, k * width, width),
        )
        if batch == 1:
            y = torch.matmul(frames, weight)  # (1, G, T, c)
            return y.permute(0, 2, 1, 3).reshape(batch, out_time, dim) + self.conv.bias
        # the items' frames as rows of one GEMM per group: a broadcast matmul would copy the weight for every
        # item (32 MB each for WavLM-large, the bulk of a batched streaming step)
        rows = frames.transpose(0, 1).reshape(groups, batch * out_time, k * width)
        y = torch.matmul(rows, weight).view(groups, batch, out_time, width)  # (G, B, T, c)
        return y.permute(1, 2, 0, 3).reshape(batch, out_time, dim) + self.conv.bias

    def _group_linears(self, x: Tensor) -> Tensor:
        """The grouped conv of a padded time-major ``(B, T + k - 1, C)`` input as one ``relaid_linear`` per group:
        each group's weight is then read in the layout ``linear`` measured fastest (oneDNN's reordered one
        streams the 34 MB of weights about twice as fast as the batched GEMM for the 4 frames of a chunk)."""
        batch, padded, dim = x.shape
        k, groups = self.kernel_size, self.groups
        width = dim // groups
        out_time = padded - k + 1
        xg = x.view(batch, padded, groups, width).permute(0, 2, 1, 3).contiguous()
        bias = self.conv.bias
        outs = []
        for g in range(groups):
            frames = xg[:, g].as_strided((batch, out_time, k * width), (xg.stride(0), width, 1)).contiguous()

            def make(w: Tensor, g: int = g) -> Tensor:  # (c_out, k, c_in) flattened like the frames
                return w.view(groups, width, width, k)[g].permute(0, 2, 1).reshape(width, k * width)

            outs.append(relaid_linear(self.conv, f"group{g}", frames, make, bias[g * width : (g + 1) * width]))
        return torch.cat(outs, dim=-1)

    def forward(self, x: Tensor, tail: Tail = None) -> Tuple[Tensor, Optional[Tensor]]:
        time = x.shape[1]
        if not self.causal:
            # symmetric zero padding of k // 2 (by the module); an even kernel gives one extra frame, dropped
            return gelu(self.conv(x.transpose(1, 2))[..., :time].transpose(1, 2)), None
        x, tail = pad_time(x, self.kernel_size - 1, tail, "replicate")
        if exporting_fixed_shapes() and time <= MAX_WINDOWS:
            return gelu(grouped_conv_matmuls(self.conv, x)), tail
        if not inference_path(self.conv, x):
            return gelu(self.conv(x.transpose(1, 2)).transpose(1, 2)), tail

        # oneDNN's grouped conv was ~8x slower than grouped GEMMs on the few frames of a streaming call on the
        # CPUs we measured, and faster on long inputs: measured for both (rows_class of the frames)
        def plain(t: Tensor) -> Tensor:
            return F.conv1d(t.transpose(1, 2), self.conv.weight, self.conv.bias, groups=self.groups).transpose(1, 2)

        rows = rows_class(time)
        shape = f"{rows}x{x.shape[-1]}*{self.kernel_size}/g{self.groups}"
        kernels = {kernel_choice.PLAIN: plain, "gemm": self._grouped_gemm}
        if rows == "few":  # each group's frames are copied out (k times the input): only worth it for a few frames
            kernels["group_linears"] = self._group_linears
        if x.device.type != "cpu":  # the measured choice is for CPU kernels (see fast_linear.measured)
            return gelu(plain(x)), tail
        choice = kernel_choice.choose(
            "grouped_conv", shape, lambda: {name: (lambda f=f: f(x)) for name, f in kernels.items()}
        )
        return gelu(kernels[choice](x)), tail


class MultiHeadAttention(nn.Module):
    """Self-attention with WavLM's gated relative position bias; keys/values optionally cached."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.dropout = dropout
        self.qkv_proj = nn.Linear(dim, 3 * dim)  # rows: all queries, then all keys, then all values
        self.out_proj = nn.Linear(dim, dim)
        self.gru_rel_pos_linear = nn.Linear(self.head_dim, 8)
        self.gru_rel_pos_const = nn.Parameter(torch.ones(1, num_heads, 1, 1))

    def forward(
        self,
        x: Tensor,
        position_bias: Tensor,
        mask: Optional[Tensor],
        past: Optional[Tuple[Tensor, Tensor]] = None,
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        batch, time, dim = x.shape
        heads, head_dim = self.num_heads, self.head_dim
        qkv = apply_linear(self.qkv_proj, x).view(batch, time, 3, heads, head_dim)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))  # (B, h, T, d)
        q = q.contiguous()  # the CPU flash kernel is faster on a contiguous query
        if past is not None:
            k = torch.cat([past[0].to(k.dtype), k], dim=2)
            v = torch.cat([past[1].to(v.dtype), v], dim=2)

        # gate computed per head from the (normalised) layer input
        heads_in = x.view(batch, time, heads, head_dim).transpose(1, 2)
        gates = self.gru_rel_pos_linear(heads_in)
        gates = gates.view(batch, heads, time, 2, 4).sum(dim=-1).sigmoid()
        gate_a, gate_b = gates.chunk(2, dim=-1)
        gate = gate_a * (gate_b * self.gru_rel_pos_const.to(q.dtype) - 1.0) + 2.0  # (B, h, T, 1)
        # one pass for gate * bias (+ mask); adding the 0 / -inf mask is exact either way
        attn_bias = gate * position_bias if mask is None else torch.addcmul(mask, gate, position_bias)
        if exporting_fixed_shapes():
            # the exporter writes SDPA as scaling both q and the transposed keys (copies of the whole key
            # window); scaling the query alone lets onnxruntime fold the transpose into its matrix product
            scores = torch.matmul(q * self.head_dim**-0.5, k.transpose(-2, -1)) + attn_bias.to(q.dtype)
            out = torch.matmul(scores.softmax(dim=-1), v)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
            )
        out = out.transpose(1, 2).reshape(batch, time, dim)
        return apply_linear(self.out_proj, out), (k, v)


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: ``x + attn(LN(x))``, then ``x + FFN(LN(x))``."""

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, num_heads, dropout)
        self.dropout = nn.Dropout(dropout)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim, ffn_dim, dropout)

    def forward(
        self, x: Tensor, position_bias: Tensor, mask: Optional[Tensor], past: Optional[Tuple[Tensor, Tensor]] = None
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        y, kv = self.attention(self.attention_norm(x), position_bias, mask, past)
        x = x + self.dropout(y)
        x = x + self.feed_forward(self.feed_forward_norm(x))
        return x, kv


class TransformerEncoder(nn.Module):
    """Positional conv, relative position embedding and the transformer layers (no final LayerNorm)."""

    def __init__(
        self,
        num_layers: int,
        dim: int,
        ffn_dim: int,
        num_heads: int,
        num_buckets: int,
        max_distance: int,
        dropout: float,
        conv_pos: int,
        conv_pos_groups: int,
        causal: bool,
        window_size: int,
        lookahead_size: int,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.window_size = window_size
        self.chunk_frames = 1 + lookahead_size
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.positional_embedding = ConvPositionalEmbedding(dim, conv_pos, conv_pos_groups, causal)
        self.relative_embedding = nn.Embedding(num_buckets, num_heads)
        self.layers = nn.ModuleList(TransformerLayer(dim, ffn_dim, num_heads, dropout) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    # relative position bias -------------------------------------------------------------------------------
    def bucket(self, relative: Tensor) -> Tensor:
        """Bucket of ``key - query`` (T5/WavLM style, both signs). Float32 ops in upstream's order."""
        half = self.num_buckets // 2
        max_exact = half // 2
        buckets = (relative > 0).long() * half
        distance = relative.abs()
        log_ratio = (distance.float() / max_exact).log()
        log_ratio = log_ratio / math.log(self.max_distance / max_exact)
        log_ratio = log_ratio * (half - max_exact)
        log_ratio = log_ratio + max_exact
        large = log_ratio.long().clamp(max=half - 1)
        return buckets + torch.where(distance < max_exact, distance, large)

    def position_bias(self, first_query: int, num_queries: int, num_keys: int) -> Tensor:
        """Bias ``(heads, Q, K)`` for queries at ``first_query ...`` and keys at ``0 .. K-1``."""
        device = self.relative_embedding.weight.device
        queries = torch.arange(first_query, first_query + num_queries, device=device)
        keys = torch.arange(num_keys, device=device)
        buckets = self.bucket(keys[None, :] - queries[:, None])
        return F.embedding(buckets, self.relative_embedding.weight).permute(2, 0, 1)

    def key_window(self, first_query: int, num_queries: int) -> Tuple[int, Optional[Tensor]]:
        """Which keys the queries at absolute frames ``first_query ...`` may attend to (docs/architecture.md, Causal models and streaming).

        Frames are grouped in chunks of ``1 + lookahead`` aligned to frame 0; a query sees its whole chunk and
        the past, ``window_size`` frames back from the chunk end, where the chunk end is clipped to the frames
        available so far. Returns the absolute position of the first key any query needs and, when queries
        differ in what they see, an additive ``(Q, K)`` mask over keys ``first_key .. first_query + Q - 1``.
        """
        chunk, window = self.chunk_frames, self.window_size
        total = first_query + num_queries
        first_end = min((first_query // chunk + 1) * chunk, total)
        first_key = max(first_end - window, 0)
        if first_query // chunk == (total - 1) // chunk:
            return first_key, None  # one (partial) chunk: every query sees the same keys
        device = self.relative_embedding.weight.device
        queries = torch.arange(first_query, total, device=device)
        ends = ((queries // chunk + 1) * chunk).clamp(max=total)
        starts = (ends - window).clamp(min=0)
        keys = torch.arange(first_key, total, device=device)
        visible = (keys[None, :] >= starts[:, None]) & (keys[None, :] < ends[:, None])
        mask = torch.zeros(visible.shape, device=device).masked_fill_(~visible, float("-inf"))
        return first_key, mask

    # forward ----------------------------------------------------------------------------------------------
    def forward_bidirectional(self, x: Tensor, length: Optional[Tensor]) -> Tensor:
        time = x.shape[1]
        position_bias = self.position_bias(0, time, time).to(x.dtype)
        mask = None
        if length is not None:
            valid = (length.to(x.device) * time).ceil().clamp(max=time).long()
            invalid = torch.arange(time, device=x.device)[None, :] >= valid[:, None]  # (B, T)
            x = x.masked_fill(invalid[..., None], 0.0)
            mask = torch.zeros(invalid.shape, dtype=x.dtype, device=x.device).masked_fill_(invalid, float("-inf"))
            mask = mask[:, None, None]  # (B, 1, 1, T): on keys only
        pos, _ = self.positional_embedding(x)
        x = self.dropout(x + pos)
        for layer in self.layers:
            x, _ = layer(x, position_bias, mask)
        return x

    def forward_causal(
        self,
        x: Tensor,
        frames_seen: int = 0,
        pos_tail: Optional[Tensor] = None,
        kv_cache: Optional[Sequence[Tuple[Tensor, Tensor]]] = None,
    ) -> Tuple[Tensor, Optional[Tensor], Tuple[Tuple[Tensor, Tensor], ...]]:
        """Causal pass over frames ``frames_seen ...``; ``kv_cache`` holds the keys/values of the frames just
        before them. Returns the output, the positional-conv tail and the cache for the next call."""
        time = x.shape[1]
        total = frames_seen + time
        cached = 0 if kv_cache is None else kv_cache[0][0].shape[2]
        first_key, mask = self.key_window(frames_seen, time)
        if first_key < frames_seen - cached:
            raise RuntimeError(
                f"key/value cache too short: holds {cached} frames, queries need {frames_seen - first_key}"
            )
        drop = first_key - (frames_seen - cached)  # cached frames no query of this call can see
        # bias from true offsets key - query, positions counted from the first visible key
        position_bias = self.position_bias(frames_seen - first_key, time, total - first_key).to(x.dtype)
        if mask is not None:
            mask = mask.to(x.dtype)
        pos, pos_tail = self.positional_embedding(x, pos_tail)
        x = self.dropout(x + pos)
        # a later call may end a partial chunk and then look back window - 1 frames (as the offline pass does)
        keep = min(self.window_size - 1, total)
        new_cache = []
        for i, layer in enumerate(self.layers):
            past = None
            if cached > drop:
                past = (kv_cache[i][0][:, :, drop:], kv_cache[i][1][:, :, drop:])
            # frames before first_key are never visible again: the keys seen now cover what the next call needs
            x, (keys, values) = layer(x, position_bias, mask, past)
            start = keys.shape[2] - keep
            new_cache.append((keys[:, :, start:].clone(), values[:, :, start:].clone()))
        return x, pos_tail, tuple(new_cache)

    def forward_streams(
        self,
        x: Tensor,
        frames_seen: Tensor,
        valid_frames: Tensor,
        pos_tail: Tail,
        kv_cache: Sequence[Tuple[Tensor, Tensor]],
    ) -> Tuple[Tensor, Tensor, Tuple[Tuple[Tensor, Tensor], ...]]:
        """One chunk of each of B independent streams, each at its own position (``fcodec.infer.multistream``).

        Row b holds frames ``frames_seen[b] ...`` (a multiple of the chunk) of its stream, of which the first
        ``valid_frames[b]`` are real (fewer than a chunk in a stream's final partial chunk; the others are never
        keys). ``kv_cache`` holds per layer the keys/values of the ``window_size - 1`` frames before each row's
        ``frames_seen`` (what ``forward_causal`` keeps), ``(B, heads, window_size - 1, head_dim)``; slots before
        frame 0 are masked, whatever they hold. Every row sees exactly the keys ``forward_causal`` gives its
        stream alone, with the same relative position bias. No shape depends on the positions, so the call can
        be captured as a CUDA graph. Returns the output, the positional-conv tail and the cache after the chunk
        (the last ``window_size - 1`` frames; meaningless for a final partial chunk).
        """
        time = x.shape[1]
        past = kv_cache[0][0].shape[2]
        device = x.device
        keys = frames_seen[:, None] - past + torch.arange(past + time, device=device)  # (B, K) absolute frames
        queries = frames_seen[:, None] + torch.arange(time, device=device)  # (B, Q)
        end = (frames_seen + valid_frames)[:, None]
        # the keys key_window gives a single chunk: the window_size frames up to the last real one
        visible = (keys >= 0) & (keys >= end - self.window_size) & (keys < end)
        mask = torch.zeros(visible.shape, dtype=x.dtype, device=device).masked_fill_(~visible, float("-inf"))
        buckets = self.bucket(keys[:, None, :] - queries[:, :, None])  # (B, Q, K), true offsets key - query
        position_bias = F.embedding(buckets, self.relative_embedding.weight).permute(0, 3, 1, 2).to(x.dtype)
        pos, pos_tail = self.positional_embedding(x, pos_tail)
        x = self.dropout(x + pos)
        new_cache = []
        for layer, past_kv in zip(self.layers, kv_cache):
            x, (keys_out, values_out) = layer(x, position_bias, mask[:, None, None], past_kv)
            new_cache.append((keys_out[:, :, time:], values_out[:, :, time:]))
        return x, pos_tail, tuple(new_cache)


class WavLM(nn.Module):
    """WavLM encoder (docs/architecture.md, Pipeline). ``forward(sig, state=None, length=None) -> (feats, state)``.

    Input is always 16 kHz (``sample_rate``); ``downsample_factor = prod(strides)`` (320: 50 Hz features) and
    ``chunk_size = downsample_factor * (1 + lookahead_size)`` (1280 samples, 80 ms). Defaults are the first 6
    layers of WavLM-large (upstream v0.0.2).

    Parameters
    ----------
    hidden_dims : sequence of int, default (512,) * 7
        Channels of the front-end convs (bias-free).
    kernel_sizes : sequence of int, default (10, 3, 3, 3, 3, 2, 2)
        Their kernels (samples / frames).
    strides : sequence of int, default (5, 2, 2, 2, 2, 2, 2)
        Their strides; the product is samples per feature frame.
    num_layers : int, default 6
        Transformer layers.
    dim : int, default 1024
        Model width (the feature dimension).
    ffn_dim : int, default 4096
        Feed-forward width.
    num_heads : int, default 16
        Attention heads.
    num_buckets : int, default 320
        Relative-position buckets (both signs).
    max_distance : int, default 800
        Relative distance (frames) beyond which all distances share the last, log-spaced bucket.
    max_cached_steps : int, default 2048
        Kept for upstream config compatibility (upstream sizes a position-bias cache with it; ours computes
        the bias on the fly); must be 0 or >= ``window_size``.
    dropout : float, default 0.0
        Dropout probability.
    conv_pos : int, default 128
        Kernel of the positional conv (frames).
    conv_pos_groups : int, default 16
        Groups of the positional conv.
    causal : bool, default False
        Streaming encoder: causal convs and chunked attention over ``window_size`` frames.
    window_size : int, default 512
        Causal only: attention span in frames, including the own chunk.
    lookahead_size : int, default 3
        Causal only: frames of look-ahead; a chunk is ``1 + lookahead_size`` frames.
    use_flex_attention : bool, default False
        Accepted for upstream compatibility; SDPA is used (numerically the same attention).

    Raises
    ------
    ValueError
        ``hidden_dims``, ``kernel_sizes`` and ``strides`` are empty or differ in length, or ``max_cached_steps``
        is between 1 and ``window_size - 1``.
    """

    BLOCK_FRAMES = 2048  # causal inputs longer than this (41 s) run through the transformer block by block

    def __init__(
        self,
        hidden_dims: Sequence[int] = (512,) * 7,
        kernel_sizes: Sequence[int] = (10, 3, 3, 3, 3, 2, 2),
        strides: Sequence[int] = (5, 2, 2, 2, 2, 2, 2),
        num_layers: int = 6,
        dim: int = 1024,
        ffn_dim: int = 4096,
        num_heads: int = 16,
        num_buckets: int = 320,
        max_distance: int = 800,
        max_cached_steps: int = 2048,
        dropout: float = 0.0,
        conv_pos: int = 128,
        conv_pos_groups: int = 16,
        causal: bool = False,
        window_size: int = 512,
        lookahead_size: int = 3,
        use_flex_attention: bool = False,
    ) -> None:
        super().__init__()
        if not (len(hidden_dims) == len(kernel_sizes) == len(strides)) or not hidden_dims:
            raise ValueError("hidden_dims, kernel_sizes and strides must be non-empty and of equal length")
        if 0 < max_cached_steps < window_size:
            # kept for config compatibility with upstream, where it sizes a bias cache; we compute on the fly
            raise ValueError(
                f"`max_cached_steps` ({max_cached_steps}) must be either zero or at least `window_size` ({window_size})"
            )
        self.hidden_dims = tuple(hidden_dims)
        self.kernel_sizes = tuple(kernel_sizes)
        self.strides = tuple(strides)
        self.num_layers = num_layers
        self.dim = dim
        self.num_heads = num_heads
        self.max_cached_steps = max_cached_steps
        self.causal = causal
        self.window_size = window_size
        self.lookahead_size = lookahead_size
        self.use_flex_attention = use_flex_attention  # accepted for compatibility; SDPA is numerically the same

        self.feature_extractor = FeatureExtractor(hidden_dims, kernel_sizes, strides, dropout, causal)
        self.norm = nn.LayerNorm(hidden_dims[-1])
        self.feature_proj = nn.Linear(hidden_dims[-1], dim)
        self.dropout = nn.Dropout(dropout)
        self.encoder = TransformerEncoder(
            num_layers,
            dim,
            ffn_dim,
            num_heads,
            num_buckets,
            max_distance,
            dropout,
            conv_pos,
            conv_pos_groups,
            causal,
            window_size,
            lookahead_size,
        )
        self.sample_rate = SAMPLE_RATE
        self.downsample_factor = math.prod(strides)
        self.chunk_size = self.downsample_factor * (1 + lookahead_size)

    def num_frames(self, num_samples: Tensor) -> Tensor:
        """Frames produced for inputs of ``num_samples`` samples (int64 tensor), per item."""
        frames = num_samples.long()
        for kernel, stride in zip(self.kernel_sizes, self.strides):
            if self.causal:
                frames = torch.div(frames + stride - 1, stride, rounding_mode="floor")
            else:
                frames = torch.div(frames.clamp(min=kernel) - kernel, stride, rounding_mode="floor") + 1
        return frames

    def _front_end(self, sig: Tensor, conv_tails: Optional[Sequence[Tail]]) -> Tuple[Tensor, List[Optional[Tensor]]]:
        """Conv feature extractor, LayerNorm and projection: ``(B, N)`` samples -> ``(B, F, dim)`` frames."""
        x, conv_tails = self.feature_extractor(sig[..., None], conv_tails)
        x = self.norm(x)
        x = apply_linear(self.feature_proj, x)
        return self.dropout(x), conv_tails

    def forward_streams(
        self,
        sig: Tensor,
        frames_seen: Tensor,
        valid_frames: Tensor,
        conv_tails: Sequence[Tail],
        pos_tail: Tail,
        kv_cache: Sequence[Tuple[Tensor, Tensor]],
    ) -> Tuple[Tensor, List[Optional[Tensor]], Tensor, Tuple[Tuple[Tensor, Tensor], ...]]:
        """Causal only: features of one chunk (``(B, chunk_size)`` samples) of each of B independent streams.

        The batched counterpart of ``forward`` with a state, for streams at different positions: row b
        continues a stream that has seen ``frames_seen[b]`` frames (a multiple of the chunk's frames), with
        its conv tails (``FreshOrTail`` for rows that start now) and its ``window_size - 1``-frame key/value
        cache (see ``TransformerEncoder.forward_streams``); a final partial chunk is zero-padded to the chunk,
        with ``valid_frames[b]`` = ``num_frames`` of its real samples. Each row's first ``valid_frames`` output
        frames equal what ``forward`` gives that stream alone (up to float rounding). Returns the features
        ``(B, chunk frames, dim)``, the conv tails, the positional-conv tail and the key/value cache.
        """
        if not self.causal:
            raise ValueError("forward_streams needs a causal WavLM")
        x, conv_tails = self._front_end(sig, conv_tails)
        x, pos_tail, kv_cache = self.encoder.forward_streams(x, frames_seen, valid_frames, pos_tail, kv_cache)
        return x, conv_tails, pos_tail, kv_cache

    def forward(
        self,
        sig: Tensor,
        state: Optional[WavLMState] = None,
        length: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Optional[WavLMState]]:
        """Features of waveforms.

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz
            Input waveforms.
        state : WavLMState, optional
            Causal only: the state returned by the previous call of this stream; None or ``()`` starts one.
        length : Tensor, shape (B,), float, optional
            Non-causal only: relative valid length (in (0, 1]) of each signal; frames past it are zeroed and
            masked as attention keys.

        Returns
        -------
        feats : Tensor, shape (B, F, dim), float
            F = ``num_frames(N)``: ceil(N / 320) causal, floor((N - 400) / 320) + 1 (at least 1) non-causal.
        state : WavLMState or None
            The new state (causal), else None.

        Raises
        ------
        ValueError
            ``sig`` is not 2-D or has 0 samples.
        """
        if sig.dim() != 2:
            raise ValueError(f"WavLM expects a (batch, samples) signal, got shape {tuple(sig.shape)}")
        if sig.shape[1] == 0:
            raise ValueError("WavLM got an empty signal (0 samples)")
        state = state or None  # () means a fresh stream, as in upstream
        x, conv_tails = self._front_end(sig, None if state is None else state.conv_tails)
        if not self.causal:
            return self.encoder.forward_bidirectional(x, length), None
        seen = 0 if state is None else state.frames_seen
        pos_tail = None if state is None else state.pos_conv_tail
        kv = None if state is None else state.kv_cache
        # attention only looks window_size frames back, so long inputs go through in blocks (with the key/value
        # cache, exactly as a stream would): memory and time stay linear in the length instead of quadratic
        block = max(self.BLOCK_FRAMES // self.encoder.chunk_frames, 1) * self.encoder.chunk_frames
        outputs = []
        for start in range(0, x.shape[1], block):
            y, pos_tail, kv = self.encoder.forward_causal(x[:, start : start + block], seen, pos_tail, kv)
            seen += y.shape[1]
            outputs.append(y)
        x = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
        return x, WavLMState(seen, tuple(conv_tails), pos_tail, kv)
