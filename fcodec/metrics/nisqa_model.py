"""The NISQA v2.0 network (the multidimensional "NISQA_DIM" variant of gabrielmittag/NISQA), written for fcodec.

Mittag et al., "NISQA: A Deep CNN-Self-Attention Model for Multidimensional Speech Quality Prediction with
Crowdsourced Datasets", Interspeech 2021. The reference code is MIT; this is an independent implementation of the
same computation, so that the published weights (``nisqa.tar``, CC BY-NC-SA 4.0) load into it.

The input is a log-mel spectrogram cut into overlapping segments (``seg_length`` frames wide, one every
``seg_hop`` frames; :mod:`fcodec.metrics.nisqa_features`). Then:
  1. framewise: a 6-layer CNN with adaptive max pooling maps each (n_mels x seg_length) segment to one vector;
  2. time dependency: a linear projection, a LayerNorm and post-norm self-attention layers over the segments;
  3. five attention-pooling heads (mos, noisiness, discontinuity, coloration, loudness), each a small
     feed-forward scorer, a softmax over the valid segments and a linear read-out.
Utterances of different lengths share a batch: padded segments are never run through the CNN, are masked as
attention keys and get no pooling weight, so an utterance's scores do not depend on its batch.

Parameter names mirror the checkpoint's except for the containers (``cnn.model.`` -> ``framewise.``,
``time_dependency.model.`` -> ``time_dependency.``, ``pool_layers.i.model.`` -> ``heads.i.``), translated by
:func:`state_dict_from_checkpoint`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NISQA_DIMENSIONS = ("mos", "noisiness", "discontinuity", "coloration", "loudness")

# What the checkpoint's ``args`` must say for this implementation to be the model it describes.
_REQUIRED_ARGS: Dict[str, Any] = {
    "model": "NISQA_DIM",
    "cnn_model": "adapt",
    "td": "self_att",
    "td_2": "skip",
    "pool": "att",
    "double_ended": False,
}


class UnsupportedNisqaCheckpoint(ValueError):
    """The checkpoint describes a NISQA variant this module does not implement (or is not NISQA at all)."""


@dataclass(frozen=True)
class NisqaConfig:
    """The hyper-parameters of a NISQA_DIM checkpoint that the front end and the network need."""

    # front end (mel spectrogram at the input's own sample rate; see nisqa_features)
    n_fft: int = 4096
    hop_seconds: float = 0.01
    win_seconds: float = 0.02
    n_mels: int = 48
    f_max: float = 20000.0
    seg_length: int = 15
    seg_hop: int = 4
    max_segments: int = 1300  # the longest input the reference accepts (in segments); informative only
    # framewise CNN
    cnn_channels: Tuple[int, int, int] = (16, 32, 64)
    cnn_kernel: Tuple[int, int] = (3, 3)
    cnn_pools: Tuple[Tuple[int, int], Tuple[int, int], Tuple[int, int]] = ((24, 7), (12, 5), (6, 3))
    # self-attention
    d_model: int = 64
    n_heads: int = 1
    n_layers: int = 2
    ff_hidden: int = 64
    # attention pooling
    pool_hidden: int = 128

    @classmethod
    def from_args(cls, args: Mapping[str, Any], source: str = "checkpoint") -> "NisqaConfig":
        """Read the reference's ``args`` dict, refusing any variant other than NISQA_DIM (CNN, SA, attention pool)."""
        for key, wanted in _REQUIRED_ARGS.items():
            if args.get(key) != wanted:
                raise UnsupportedNisqaCheckpoint(
                    f"{source}: unsupported NISQA variant: args[{key!r}] is {args.get(key)!r}, this implementation "
                    f"supports only {key}={wanted!r} (the multidimensional NISQA v2.0 model, weights/nisqa.tar)"
                )
        if args.get("td_sa_pos_enc"):
            raise UnsupportedNisqaCheckpoint(f"{source}: positional encoding in self-attention is not supported")
        if args.get("pool_att_h") is None:
            raise UnsupportedNisqaCheckpoint(f"{source}: attention pooling without a hidden layer is not supported")
        if args.get("cnn_fc_out_h"):
            raise UnsupportedNisqaCheckpoint(f"{source}: a CNN output layer (cnn_fc_out_h) is not supported")
        if args.get("ms_sr") is not None:
            # the published model computes its mel spectrogram at the file's own rate (librosa.load(sr=None));
            # a fixed analysis rate would need resampling that this front end does not do
            raise UnsupportedNisqaCheckpoint(
                f"{source}: a fixed analysis rate (ms_sr={args['ms_sr']}) is not supported"
            )
        try:
            kernel = args["cnn_kernel_size"]
            kernel = (int(kernel), int(kernel)) if isinstance(kernel, int) else (int(kernel[0]), int(kernel[1]))
            if kernel[1] == 1:
                raise UnsupportedNisqaCheckpoint(f"{source}: 1-D CNN kernels (width 1) are not supported")
            seg_length = int(args["ms_seg_length"])
            if seg_length % 2 == 0:
                raise UnsupportedNisqaCheckpoint(f"{source}: ms_seg_length must be odd, got {seg_length}")
            return cls(
                n_fft=int(args["ms_n_fft"]),
                hop_seconds=float(args["ms_hop_length"]),
                win_seconds=float(args["ms_win_length"]),
                n_mels=int(args["ms_n_mels"]),
                f_max=float(args["ms_fmax"]),
                seg_length=seg_length,
                seg_hop=int(args["ms_seg_hop_length"]),
                max_segments=int(args["ms_max_segments"]),
                cnn_channels=(int(args["cnn_c_out_1"]), int(args["cnn_c_out_2"]), int(args["cnn_c_out_3"])),
                cnn_kernel=kernel,
                cnn_pools=tuple(
                    (int(p[0]), int(p[1])) for p in (args["cnn_pool_1"], args["cnn_pool_2"], args["cnn_pool_3"])
                ),  # type: ignore[arg-type]
                d_model=int(args["td_sa_d_model"]),
                n_heads=int(args["td_sa_nhead"]),
                n_layers=int(args["td_sa_num_layers"]),
                ff_hidden=int(args["td_sa_h"]),
                pool_hidden=int(args["pool_att_h"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            if isinstance(err, UnsupportedNisqaCheckpoint):
                raise
            raise UnsupportedNisqaCheckpoint(f"{source}: NISQA args incomplete or malformed ({err!r})") from None


class FramewiseCnn(nn.Module):
    """Six conv + batch-norm + ReLU layers with adaptive max pooling: one (n_mels x seg_length) segment -> a vector.

    Adaptive pooling makes the output size independent of n_mels and seg_length; the last convolution is as wide
    as the last pooled width, so the width collapses to one and the vector is ``channels * pool_3 height`` long.
    """

    def __init__(self, config: NisqaConfig):
        super().__init__()
        c1, c2, c3 = config.cnn_channels
        kernel = config.cnn_kernel
        self.pools = config.cnn_pools
        last_kernel = (kernel[0], self.pools[2][1])
        self.conv1 = nn.Conv2d(1, c1, kernel, padding=(1, 1))
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, kernel, padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(c2)
        self.conv3 = nn.Conv2d(c2, c3, kernel, padding=(1, 1))
        self.bn3 = nn.BatchNorm2d(c3)
        self.conv4 = nn.Conv2d(c3, c3, kernel, padding=(1, 1))
        self.bn4 = nn.BatchNorm2d(c3)
        self.conv5 = nn.Conv2d(c3, c3, kernel, padding=(1, 1))
        self.bn5 = nn.BatchNorm2d(c3)
        self.conv6 = nn.Conv2d(c3, c3, last_kernel, padding=(1, 0))
        self.bn6 = nn.BatchNorm2d(c3)
        self.out_features = c3 * self.pools[2][0]

    def forward(self, segments: Tensor) -> Tensor:
        """(N, 1, n_mels, seg_length) -> (N, out_features). (The reference's dropout layers are no-ops in eval.)"""
        # channels-last convolutions are ~1.4x faster on CPU (oneDNN) for these small maps; same results
        x = segments.contiguous(memory_format=torch.channels_last)
        x = F.adaptive_max_pool2d(F.relu(self.bn1(self.conv1(x))), self.pools[0])
        x = F.adaptive_max_pool2d(F.relu(self.bn2(self.conv2(x))), self.pools[1])
        x = F.relu(self.bn3(self.conv3(x)))
        x = F.adaptive_max_pool2d(F.relu(self.bn4(self.conv4(x))), self.pools[2])
        x = F.relu(self.bn5(self.conv5(x)))
        x = F.relu(self.bn6(self.conv6(x)))
        return x.flatten(1)  # flatten copies back to (channel, height) order, as the reference's view


class SelfAttentionLayer(nn.Module):
    """Post-norm transformer encoder layer (attention, add & norm, ReLU feed-forward, add & norm)."""

    def __init__(self, d_model: int, n_heads: int, ff_hidden: int):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.linear1 = nn.Linear(d_model, ff_hidden)
        self.linear2 = nn.Linear(ff_hidden, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        """x (B, T, d_model); padding (B, T) True where there is no segment (masked as a key)."""
        attended = self.self_attn(x, x, x, key_padding_mask=padding, need_weights=False)[0]
        x = self.norm1(x + attended)
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class SelfAttentionStack(nn.Module):
    """Project the CNN vectors to d_model, LayerNorm them, then the self-attention layers."""

    def __init__(self, in_features: int, config: NisqaConfig):
        super().__init__()
        self.linear = nn.Linear(in_features, config.d_model)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.layers = nn.ModuleList(
            SelfAttentionLayer(config.d_model, config.n_heads, config.ff_hidden) for _ in range(config.n_layers)
        )

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        x = self.norm1(self.linear(x))
        for layer in self.layers:
            x = layer(x, padding)
        return x


class AttentionPoolingHead(nn.Module):
    """One quality dimension: a feed-forward score per segment, softmax over valid segments, linear read-out."""

    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.linear1 = nn.Linear(d_model, hidden)
        self.linear2 = nn.Linear(hidden, 1)
        self.linear3 = nn.Linear(d_model, 1)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        """x (B, T, d_model), padding (B, T) -> (B,)."""
        scores = self.linear2(F.relu(self.linear1(x))).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(padding, float("-inf")), dim=-1)
        pooled = torch.bmm(weights.unsqueeze(1), x).squeeze(1)
        return self.linear3(pooled).squeeze(-1)


class NisqaDimModel(nn.Module):
    """NISQA v2.0: segments of a log-mel spectrogram -> (B, 5) scores in the order of NISQA_DIMENSIONS."""

    def __init__(self, config: NisqaConfig):
        super().__init__()
        self.config = config
        self.framewise = FramewiseCnn(config)
        self.time_dependency = SelfAttentionStack(self.framewise.out_features, config)
        self.heads = nn.ModuleList(AttentionPoolingHead(config.d_model, config.pool_hidden) for _ in NISQA_DIMENSIONS)

    def forward(self, segments: Tensor, counts: Sequence[int]) -> Tensor:
        """segments: (sum(counts), 1, n_mels, seg_length), the utterances' segments one after another;
        counts: segments per utterance (each >= 1). Returns (len(counts), 5)."""
        if any(int(c) < 1 for c in counts):
            raise ValueError(f"every utterance needs at least one segment, got counts {list(counts)}")
        features = self.framewise(segments)  # only real segments pass the CNN
        counts_t = torch.as_tensor([int(c) for c in counts], device=features.device)
        steps = torch.arange(int(counts_t.max()), device=features.device)
        valid = steps[None, :] < counts_t[:, None]  # (B, T)
        padded = features.new_zeros(len(counts), valid.shape[1], features.shape[1])
        padded[valid] = features  # row-major order of `valid` is the order of the concatenated segments
        padding = ~valid
        hidden = self.time_dependency(padded, padding)
        return torch.stack([head(hidden, padding) for head in self.heads], dim=1)


# checkpoint container prefix -> ours
_KEY_RULES = (
    (re.compile(r"^cnn\.model\."), "framewise."),
    (re.compile(r"^time_dependency\.model\."), "time_dependency."),
    (re.compile(r"^pool_layers\.(\d+)\.model\."), r"heads.\1."),
)


def state_dict_from_checkpoint(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The reference's parameter names -> this module's (same tensors)."""
    renamed: Dict[str, Tensor] = {}
    for key, value in state.items():
        new_key = key
        for pattern, replacement in _KEY_RULES:
            new_key, hits = pattern.subn(replacement, new_key)
            if hits:
                break
        renamed[new_key] = value
    return renamed
