"""DNSMOS's two networks in torch, with the weights read from the ONNX files that ``speechmos`` ships.

The graphs (``sig_bak_ovr.onnx``: P.835 SIG / BAK / OVRL; ``model_v8.onnx``: P.808) are small Keras CNNs; their
layers are written out here by hand and only their initializers are read (with the ``onnx`` package): no code
from the graph runs. What each graph does, in order:

* P.835, on a 9.01 s window of 144160 samples: 900 frames ``x[160 i : 160 i + 320]`` (no window function), a
  161-bin DFT as two learnt-free 1x1 convolutions (``time2freq/stft-real`` / ``-imag``), ``log10(max(|X|^2,
  1e-12))``, then on the (900, 161) image: 3x3 convolutions of 128, 64, 64, 32 channels (ReLU, zero padding), then
  [2x2 max pool, 3x3 conv] three times (32, 32, 64 channels), a global max, and dense 128, 64, 3.
* P.808, on speechmos's log-mel spectrogram of the window's first 144000 samples (librosa: 321-point periodic
  Hann STFT, hop 160, centred with zero padding, power 2, 120 Slaney mel bands, ``power_to_db(ref=max)`` with
  ``top_db`` 80, then ``(dB + 40) / 40``): [3x3 conv, 2x2 max pool] and so on (32, 32, 32, 32, 64 channels), a
  global max, and dense 64, 64, 1.

Speed: speechmos scores each 9.01 s window from scratch, with a 1 s hop, so every second of audio goes through
the expensive full-resolution layers about nine times. The four full-resolution convolutions (about 97 % of the
P.835 work) are translation-equivariant in time, and a window starts on the frame grid (16000 samples = 100
frames), so :meth:`P835Net.trunk` runs them once over each whole utterance; only the four rows at each end of a
window, where the window's zero padding differs from the neighbouring audio, are recomputed from that window alone
(:func:`p835_windows`). The rest of the network runs per window, as in speechmos. The scores are speechmos's up to
float rounding (tests/metrics/test_dnsmos_torch.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from fcodec.utils.mel import mel_filterbank

SAMPLE_RATE = 16000
FRAME, HOP = 320, 160  # the P.835 frames
WINDOW_FRAMES = 900  # frames of one 9.01 s window (144160 samples)
FRAMES_PER_SECOND = SAMPLE_RATE // HOP  # windows start every second: 100 frames apart
# rows at each end of a window whose trunk output depends on the window's zero padding: one per 3x3 convolution
EDGE_ROWS = 4
MEL_FFT, MEL_BANDS, MEL_SAMPLES = 321, 120, 144000


def read_onnx_weights(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """The initializers of an ONNX file as numpy arrays (nothing of the graph is executed)."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # a missing or corrupt file: one line naming it
        raise ValueError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    return {t.name: numpy_helper.to_array(t).copy() for t in model.graph.initializer}


def checked_weight(weights: Dict[str, np.ndarray], name: str, shape: tuple, path) -> np.ndarray:
    """The initializer ``name`` of the file ``path``, as float32; a one-line ValueError naming the file when it is
    missing or has another shape (not speechmos's model). Both backends read their weights through it."""
    if name not in weights:
        raise ValueError(f"{path}: no initializer {name!r} (not speechmos's DNSMOS model?)")
    if tuple(weights[name].shape) != shape:
        raise ValueError(f"{path}: initializer {name!r} has shape {weights[name].shape}, expected {shape}")
    return np.ascontiguousarray(weights[name], dtype=np.float32)


def _take(weights: Dict[str, np.ndarray], name: str, shape: tuple, path) -> Tensor:
    return torch.from_numpy(checked_weight(weights, name, shape, path))


def _conv(weights, prefix: str, c_in: int, c_out: int, path) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding=1)
    conv.weight.data.copy_(_take(weights, f"{prefix}/kernel:0", (c_out, c_in, 3, 3), path))
    conv.bias.data.copy_(_take(weights, f"{prefix}/bias:0", (c_out,), path))
    return conv


def _dense(weights, prefix: str, c_in: int, c_out: int, path) -> nn.Linear:
    dense = nn.Linear(c_in, c_out)
    dense.weight.data.copy_(_take(weights, f"{prefix}/MatMul/ReadVariableOp/resource:0", (c_in, c_out), path).T)
    dense.bias.data.copy_(_take(weights, f"{prefix}/BiasAdd/ReadVariableOp/resource:0", (c_out,), path))
    return dense


def log_power(dft: Tensor, audio: Tensor, frames: int) -> Tensor:
    """1-D audio -> (frames, 161) log10 power of frames ``audio[160 i : 160 i + 320]`` (``dft``: (320, 322), the
    graph's real and imaginary DFT kernels side by side)."""
    framed = audio[: HOP * (frames + 1)].unfold(0, FRAME, HOP)
    spectrum = framed @ dft
    power = spectrum[:, :161].square() + spectrum[:, 161:].square()
    return torch.log(power.clamp_min(1e-12)) / 2.3025851  # the graph's constant for ln(10)


def _global_max_mlp(x: Tensor, layers: Sequence[nn.Linear]) -> Tensor:
    x = x.amax(dim=(2, 3))
    for i, layer in enumerate(layers):
        x = layer(x)
        if i < len(layers) - 1:
            x = torch.relu(x)
    return x


class P835Net(nn.Module):
    """``sig_bak_ovr.onnx``: raw (SIG, BAK, OVRL) before speechmos's calibration polynomials."""

    def __init__(self, path: Union[str, Path]):
        super().__init__()
        w = read_onnx_weights(path)
        real = _take(w, "time2freq/stft-real/kernel:0", (161, FRAME, 1), path)[:, :, 0]
        imag = _take(w, "time2freq/stft-imag/kernel:0", (161, FRAME, 1), path)[:, :, 0]
        self.register_buffer("dft", torch.cat([real, imag]).T.contiguous())  # (320, 322)
        names = ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3"]
        widths = [1, 128, 64, 64, 32]
        self.full_res = nn.ModuleList(_conv(w, n, a, b, path) for n, a, b in zip(names, widths, widths[1:]))
        self.pooled = nn.ModuleList(
            _conv(w, n, a, b, path) for n, a, b in (("conv2d_4", 32, 32), ("conv2d_5", 32, 32), ("conv2d_6", 32, 64))
        )
        self.mlp = nn.ModuleList(
            _dense(w, f"mos_estimator_logpow/{n}", a, b, path)
            for n, a, b in (("dense", 64, 128), ("dense_1", 128, 64), ("dense_3", 64, 3))
        )

    def log_power(self, audio: Tensor, frames: int) -> Tensor:
        """1-D audio -> (frames, 161) log10 power of frames ``audio[160 i : 160 i + 320]``."""
        return log_power(self.dft, audio, frames)

    def trunk(self, image: Tensor) -> Tensor:
        """(N, 1, rows, 161) log power -> (N, 32, rows, 161): the four full-resolution convolutions."""
        for conv in self.full_res:
            image = conv(image).relu_()  # in place: these activations are the largest tensors here
        return image

    def pooled_trunk(self, image: Tensor) -> Tensor:
        """(N, rows, 161) log power -> (N, 32, rows // 2, 80): the trunk and the first 2x2 max pool (local too, and
        windows start on even rows: it runs once on a whole utterance's trunk)."""
        return nn.functional.max_pool2d(self.trunk(image[:, None].contiguous(memory_format=self._memory)), 2)

    def head(self, pooled: Tensor) -> Tensor:
        """(N, 32, 450, 80) trunk output of whole windows after the first 2x2 max pool -> (N, 3) raw SIG, BAK,
        OVRL."""
        x = pooled.contiguous(memory_format=self._memory)
        for i, conv in enumerate(self.pooled):
            x = conv(x if i == 0 else nn.functional.max_pool2d(x, 2)).relu_()
        return _global_max_mlp(x, self.mlp)

    @property
    def _memory(self) -> torch.memory_format:
        # channels-last is oneDNN's fast layout for these convolutions on the CPU (about 1.4x); cuDNN picks its own
        return torch.channels_last if self.dft.device.type == "cpu" else torch.contiguous_format


class P808Features(nn.Module):
    """speechmos's librosa log-mel front end of P.808 (no weights: the onnx backend feeds it to speechmos's graph)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(SAMPLE_RATE, MEL_FFT, MEL_BANDS).copy()))
        self.register_buffer("window", torch.hann_window(MEL_FFT, periodic=True))

    def forward(self, windows: Tensor) -> Tensor:
        """(N, >= 144000) windows -> (N, 900, 120): ``DNSMOS.audio_melspec(window[:-160])`` of speechmos."""
        spectrum = torch.stft(
            windows[:, :MEL_SAMPLES],
            MEL_FFT,
            hop_length=HOP,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        mel = self.mel @ spectrum.abs().square()  # (N, 120, 900)
        db = 10.0 * torch.log10(mel.clamp_min(1e-10))
        db = db - 10.0 * torch.log10(mel.amax(dim=(1, 2), keepdim=True).clamp_min(1e-10))  # ref=np.max
        db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - 80.0)  # top_db
        return ((db + 40.0) / 40.0).transpose(1, 2)


class P808Net(nn.Module):
    """``model_v8.onnx`` with speechmos's librosa log-mel front end: windows -> P.808 MOS."""

    def __init__(self, path: Union[str, Path]):
        super().__init__()
        w = read_onnx_weights(path)
        names = ["conv2d_5", "conv2d_6", "conv2d_7", "conv2d_8", "conv2d_9"]
        widths = [1, 32, 32, 32, 32, 64]
        self.convs = nn.ModuleList(_conv(w, n, a, b, path) for n, a, b in zip(names, widths, widths[1:]))
        self.mlp = nn.ModuleList(
            _dense(w, f"mos_estimator_small_1/{n}", a, b, path)
            for n, a, b in (("dense_3", 64, 64), ("dense_4", 64, 64), ("dense_5", 64, 1))
        )
        self.features = P808Features()

    def forward(self, windows: Tensor) -> Tensor:
        x = self.features(windows)[:, None]
        if x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)  # oneDNN's fast layout (about 2x here)
        for i, conv in enumerate(self.convs):
            x = conv(x).relu_()
            if i in (0, 1, 3):  # where the graph pools (not after the third and the last convolution)
                x = nn.functional.max_pool2d(x, 2)
        return _global_max_mlp(x, self.mlp)[:, 0]


def p835_windows(
    net, audios: Sequence[Tensor], hops: Sequence[Sequence[int]], max_rows: int, per_call: int = 8
) -> Tensor:
    """Raw P.835 outputs (sum of len(h) for h in hops, 3) of the windows that start ``hop`` seconds into each
    audio, in order. Utterances are concatenated in time, at most ``max_rows`` frames a trunk call (one longer
    utterance alone), ``per_call`` windows a head call; each window's interior rows are cut from that, its edge rows
    recomputed from the window. ``net``: the torch networks, or the same layers in onnxruntime
    (:class:`fcodec.metrics.dnsmos_onnx.P835Graphs`)."""
    images = [
        net.log_power(audio, FRAMES_PER_SECOND * max(starts) + WINDOW_FRAMES) if starts else None
        for audio, starts in zip(audios, hops)
    ]
    raw: List[Tensor] = []
    group: List[int] = []
    for i, image in enumerate(images):
        if image is None:
            continue
        if group and sum(len(images[j]) for j in group) + len(image) > max_rows:
            raw.append(_group_windows(net, [images[j] for j in group], [hops[j] for j in group], per_call))
            group = []
        group.append(i)
    if group:
        raw.append(_group_windows(net, [images[j] for j in group], [hops[j] for j in group], per_call))
    return torch.cat(raw) if raw else torch.zeros(0, 3, device=net.dft.device)


def _group_windows(net, images: List[Tensor], hops: Sequence[Sequence[int]], per_call: int = 8) -> Tensor:
    tops = [(u, FRAMES_PER_SECOND * hop) for u, starts in enumerate(hops) for hop in starts]
    edges = [
        image[top + offset : top + offset + 2 * EDGE_ROWS]
        for u, top in tops
        for image in [images[u]]
        for offset in (0, WINDOW_FRAMES - 2 * EDGE_ROWS)
    ]
    edge_out = net.pooled_trunk(torch.stack(edges))
    trunk = net.pooled_trunk(torch.cat(images)[None])[0]
    starts = np.cumsum([0] + [len(image) for image in images])
    edge, raw = EDGE_ROWS // 2, []  # pooled edge rows
    for first in range(0, len(tops), per_call):
        windows = []
        for w in range(first, min(first + per_call, len(tops))):
            u, top = tops[w]
            top = (top + int(starts[u])) // 2
            middle = trunk[:, top + edge : top + WINDOW_FRAMES // 2 - edge]
            head, tail = edge_out[2 * w, :, :edge], edge_out[2 * w + 1, :, edge:]
            windows.append(torch.cat([head, middle, tail], dim=1))
        raw.append(net.head(torch.stack(windows)))
    return torch.cat(raw)
