"""DNSMOS (P.835 SIG / BAK / OVRL and P.808), batched, from the ONNX models that the ``speechmos`` wheel ships.

``speechmos.dnsmos.run`` scores one 9 s window at a time and keeps its model in a module global. This judge cuts
every utterance into the same windows as speechmos (1 s hop; a short clip is repeated up to 9.01 s), runs the
full-resolution layers of P.835 once per utterance rather than once per window
(:func:`fcodec.metrics.dnsmos_torch.p835_windows`), the rest window by window, and calibrates the outputs with
speechmos's own polynomials (``DNSMOS.get_polyfit_val``). Two backends run the same layers and give speechmos's
scores (tests/metrics/test_dnsmos_torch.py and test_mos_judges.py check both); ``auto`` (the default) takes torch
on CUDA and onnx on the CPU, where onnxruntime's convolutions are 2-3x faster than torch's:

* ``torch``: the two networks in torch (:mod:`fcodec.metrics.dnsmos_torch`), on the CPU (with torch's thread
  count) or on CUDA.
* ``onnx``: P.835's layers as onnxruntime graphs built from the same file's weights
  (:mod:`fcodec.metrics.dnsmos_onnx`), and speechmos's P.808 graph on the torch log-mel front end; on the CPU (the
  ``onnxruntime-gpu`` build would add CUDA), with the judge's thread count.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

DNSMOS_DIMENSIONS = ("ovrl", "sig", "bak", "p808")  # the headline (P.835 overall quality) first
SAMPLE_RATE = 16000
BACKENDS = ("auto", "torch", "onnx")


def _model_dir() -> str:
    import speechmos.dnsmos

    return os.path.join(os.path.dirname(os.path.abspath(speechmos.dnsmos.__file__)), "dnsmos_models")


class DnsmosPredictor:
    """Batched DNSMOS: 16 kHz waveforms -> {ovrl, sig, bak, p808} each."""

    name = "dnsmos"
    dimensions = DNSMOS_DIMENSIONS

    def __init__(self, num_threads: int = 0, device: str = "cpu", backend: str = "auto"):
        """``num_threads``: onnxruntime intra-op threads (0: its default, all cores; torch's own setting for the
        torch parts); ``device``: where the torch networks run (onnx: cuda uses onnxruntime's CUDA provider when
        the installed onnxruntime has one)."""
        from importlib.metadata import version

        from speechmos.dnsmos import DNSMOS

        if backend not in BACKENDS:
            raise ValueError(f"unknown DNSMOS backend {backend!r}: choose from {list(BACKENDS)}")
        if backend == "auto":  # measured on 2 CPU threads: onnxruntime's convolutions are 2-3x faster than torch's
            backend = "torch" if str(device).startswith("cuda") else "onnx"
        import torch

        from fcodec.metrics.dnsmos_torch import P808Features, P808Net, P835Net

        model_dir = _model_dir()
        primary, p808 = os.path.join(model_dir, "sig_bak_ovr.onnx"), os.path.join(model_dir, "model_v8.onnx")
        # speechmos's own class, for its calibration polynomials
        self.reference = DNSMOS.__new__(DNSMOS)
        self.reference.primary_model_path = primary
        self.backend = backend
        if backend == "torch":
            self.device = torch.device(device)
            self.primary, self.p808 = (
                net(path).to(self.device).eval() for net, path in ((P835Net, primary), (P808Net, p808))
            )
            runtime = f"torch {torch.__version__} on {self.device}"
        else:
            import onnxruntime as ort

            from fcodec.metrics.dnsmos_onnx import P835Graphs, session_options

            self.device = torch.device("cpu")  # the torch parts: framing, the log-mel front end
            providers = ["CPUExecutionProvider"]
            if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            self.primary = P835Graphs(primary, num_threads, providers)
            self.p808_features = P808Features()  # speechmos's librosa log-mel front end, 20x faster
            self.p808 = ort.InferenceSession(p808, session_options(ort, num_threads), providers=providers)
            runtime = f"onnxruntime {ort.__version__}"
        self.window = int(speechmos_input_length() * SAMPLE_RATE)
        self.description = f"DNSMOS P.835 + P.808 (speechmos {version('speechmos')}, {runtime})"
        # the backend is part of the identity: the two agree to float rounding, not bit for bit
        self.identity = {
            "name": "dnsmos",
            "speechmos": version("speechmos"),
            "models": ["sig_bak_ovr.onnx", "model_v8.onnx"],
            "backend": backend,
        }
        if backend == "onnx":  # fcodec's graphs since 2026-12-07 (speechmos's before): older caches are not reused
            self.identity["graphs"] = "fcodec"

    def _hops(self, audio: np.ndarray) -> Optional[Tuple[np.ndarray, List[int]]]:
        """(the audio speechmos scores, the start in seconds of each of its windows), or None when it cannot be
        scored."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size == 0 or not np.isfinite(audio).all():
            return None
        # speechmos refuses samples outside [-1, 1]; a reconstruction may overshoot by a little: clip it
        audio = np.clip(audio, -1.0, 1.0)
        while len(audio) < self.window:
            audio = np.append(audio, audio)
        length = speechmos_input_length()
        num_hops = int(np.floor(len(audio) / SAMPLE_RATE) - length) + 1
        # speechmos's own index arithmetic, so that a window it drops (float rounding) is dropped here too
        hops = [
            hop
            for hop in range(num_hops)
            if int((hop + length) * SAMPLE_RATE) - int(hop * SAMPLE_RATE) >= self.window
            and int((hop + length) * SAMPLE_RATE) <= len(audio)
        ]
        return (audio, hops) if hops else None

    def _windows(self, audio: np.ndarray) -> Optional[np.ndarray]:
        """speechmos's windows of one utterance (num_windows, 144160), or None when it cannot be scored."""
        prepared = self._hops(audio)
        if prepared is None:
            return None
        audio, hops = prepared
        return np.stack([audio[hop * SAMPLE_RATE : hop * SAMPLE_RATE + self.window] for hop in hops])

    def predict(
        self, waveforms: Sequence[np.ndarray], sample_rate: int, batch_size: int = 16
    ) -> List[Dict[str, float]]:
        """One dict per waveform (keys DNSMOS_DIMENSIONS); NaN for an empty or non-finite one. ``batch_size``:
        utterances whose windows run together (memory stays bounded: see each backend)."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"DNSMOS scores 16 kHz audio, got {sample_rate} Hz")
        prepared = [self._hops(w) for w in waveforms]
        results = [dict.fromkeys(DNSMOS_DIMENSIONS, math.nan) for _ in waveforms]
        live = [i for i, p in enumerate(prepared) if p is not None]
        run = self._run_torch if self.backend == "torch" else self._run_onnx
        for start in range(0, len(live), max(1, batch_size)):
            batch = live[start : start + batch_size]
            raw, p808 = run([prepared[i] for i in batch])
            sig, bak, ovrl = self.reference.get_polyfit_val(raw[:, 0], raw[:, 1], raw[:, 2], False)
            offset = 0
            for i in batch:
                part = slice(offset, offset + len(prepared[i][1]))
                results[i] = {
                    "ovrl": float(np.mean(ovrl[part])),
                    "sig": float(np.mean(sig[part])),
                    "bak": float(np.mean(bak[part])),
                    "p808": float(np.mean(p808[part])),
                }
                offset += len(prepared[i][1])
        return results

    def _run_onnx(self, prepared) -> Tuple[np.ndarray, np.ndarray]:
        """(raw P.835 (windows, 3), P.808 (windows,)): P.835 as in the torch backend, with onnxruntime's layers."""
        import torch

        from fcodec.metrics.dnsmos_torch import p835_windows

        per_call = 8  # windows per head and P.808 call: about 0.5 GB of activations, as the torch backend on the CPU
        with torch.inference_mode():
            audios = [torch.from_numpy(audio) for audio, _ in prepared]
            hops = [h for _, h in prepared]
            raw = p835_windows(self.primary, audios, hops, 2048, per_call)
            windows = [
                a[hop * SAMPLE_RATE : hop * SAMPLE_RATE + self.window] for a, h in zip(audios, hops) for hop in h
            ]
            p808 = []
            for c in range(0, len(windows), per_call):  # stacked per call: a batch's windows can be hundreds of MB
                mels = self.p808_features(torch.stack(windows[c : c + per_call]))
                p808.append(self.p808.run(None, {"input_1": np.ascontiguousarray(mels)})[0])
        return raw.numpy(), np.concatenate(p808)[:, 0]

    def _run_torch(self, prepared) -> Tuple[np.ndarray, np.ndarray]:
        import torch

        from fcodec.metrics.dnsmos_torch import p835_windows
        from fcodec.metrics.nisqa import exact_convolutions

        cuda = self.device.type == "cuda"
        # frames per trunk call and windows per head / P.808 call: about 0.5 GB of activations on the CPU
        max_rows, per_call = (32768, 64) if cuda else (2048, 8)
        with torch.inference_mode(), exact_convolutions(self.device):
            audios = [torch.from_numpy(audio).to(self.device) for audio, _ in prepared]
            hops = [h for _, h in prepared]
            raw = p835_windows(self.primary, audios, hops, max_rows, per_call)
            windows = [
                a[hop * SAMPLE_RATE : hop * SAMPLE_RATE + self.window] for a, h in zip(audios, hops) for hop in h
            ]
            p808 = torch.cat(
                [self.p808(torch.stack(windows[c : c + per_call])) for c in range(0, len(windows), per_call)]
            )
        return raw.float().cpu().numpy(), p808.float().cpu().numpy()


def speechmos_input_length() -> float:
    """The window length speechmos's DNSMOS scores, in seconds (9.01)."""
    import speechmos.dnsmos

    return float(speechmos.dnsmos.INPUT_LENGTH)
