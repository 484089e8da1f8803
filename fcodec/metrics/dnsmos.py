"""DNSMOS (P.835 SIG / BAK / OVRL and P.808), batched, from the ONNX models that the ``speechmos`` wheel ships.

``speechmos.dnsmos.run`` scores one 9 s window at a time and keeps its model in a module global. This wrapper
reuses speechmos's models and its own feature and calibration code (``DNSMOS.audio_melspec``,
``DNSMOS.get_polyfit_val``), cuts every utterance into the same windows as speechmos (1 s hop; a short clip is
repeated up to 9.01 s), and runs the windows of many utterances through each ONNX model in one call: the scores
are speechmos's (tests/metrics/test_dnsmos.py checks it), only faster. onnxruntime runs on the CPU here (the
``onnxruntime-gpu`` build would add CUDA); its thread count is set per judge.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

DNSMOS_DIMENSIONS = ("ovrl", "sig", "bak", "p808")  # the headline (P.835 overall quality) first
# 9 s windows per ONNX call: the P.835 model's activations take about 110 MB per window on the CPU
WINDOWS_PER_CALL = 4
SAMPLE_RATE = 16000


def _model_dir() -> str:
    import speechmos.dnsmos

    return os.path.join(os.path.dirname(os.path.abspath(speechmos.dnsmos.__file__)), "dnsmos_models")


class DnsmosPredictor:
    """Batched DNSMOS: 16 kHz waveforms -> {ovrl, sig, bak, p808} each."""

    name = "dnsmos"
    dimensions = DNSMOS_DIMENSIONS

    def __init__(self, num_threads: int = 0, device: str = "cpu"):
        """``num_threads``: onnxruntime intra-op threads (0: its default, all cores); ``device`` cuda uses
        onnxruntime's CUDA provider when the installed onnxruntime has one."""
        from importlib.metadata import version

        import onnxruntime as ort
        from speechmos.dnsmos import DNSMOS

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(num_threads)
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        model_dir = _model_dir()
        primary, p808 = os.path.join(model_dir, "sig_bak_ovr.onnx"), os.path.join(model_dir, "model_v8.onnx")
        # speechmos's own class, for its mel front end and calibration polynomials; our sessions carry the options
        self.reference = DNSMOS.__new__(DNSMOS)
        self.reference.primary_model_path = primary
        self.primary = ort.InferenceSession(primary, options, providers=providers)
        self.p808 = ort.InferenceSession(p808, options, providers=providers)
        self.window = int(speechmos_input_length() * SAMPLE_RATE)
        self.description = f"DNSMOS P.835 + P.808 (speechmos {version('speechmos')}, onnxruntime {ort.__version__})"
        self.identity = {
            "name": "dnsmos",
            "speechmos": version("speechmos"),
            "models": ["sig_bak_ovr.onnx", "model_v8.onnx"],
        }

    def _windows(self, audio: np.ndarray) -> Optional[np.ndarray]:
        """speechmos's windows of one utterance (num_windows, 144160), or None when it cannot be scored."""
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
        windows = [audio[int(hop * SAMPLE_RATE) : int((hop + length) * SAMPLE_RATE)] for hop in range(num_hops)]
        windows = [w for w in windows if len(w) >= self.window]
        return np.stack(windows) if windows else None

    def predict(
        self, waveforms: Sequence[np.ndarray], sample_rate: int, batch_size: int = 16
    ) -> List[Dict[str, float]]:
        """One dict per waveform (keys DNSMOS_DIMENSIONS); NaN for an empty or non-finite one. ``batch_size``:
        utterances whose windows are pooled, then run WINDOWS_PER_CALL at a time (memory stays bounded)."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"DNSMOS scores 16 kHz audio, got {sample_rate} Hz")
        windows = [self._windows(w) for w in waveforms]
        results = [dict.fromkeys(DNSMOS_DIMENSIONS, math.nan) for _ in waveforms]
        live = [i for i, w in enumerate(windows) if w is not None]
        for start in range(0, len(live), max(1, batch_size)):
            batch = live[start : start + batch_size]
            stacked = np.concatenate([windows[i] for i in batch])
            mels = np.stack([self.reference.audio_melspec(audio=w[:-160]) for w in stacked]).astype(np.float32)
            calls = range(0, len(stacked), WINDOWS_PER_CALL)
            raw = np.concatenate(
                [self.primary.run(None, {"input_1": stacked[c : c + WINDOWS_PER_CALL]})[0] for c in calls]
            )
            p808 = np.concatenate(
                [self.p808.run(None, {"input_1": mels[c : c + WINDOWS_PER_CALL]})[0][:, 0] for c in calls]
            )
            sig, bak, ovrl = self.reference.get_polyfit_val(raw[:, 0], raw[:, 1], raw[:, 2], False)
            offset = 0
            for i in batch:
                n = len(windows[i])
                part = slice(offset, offset + n)
                results[i] = {
                    "ovrl": float(np.mean(ovrl[part])),
                    "sig": float(np.mean(sig[part])),
                    "bak": float(np.mean(bak[part])),
                    "p808": float(np.mean(p808[part])),
                }
                offset += n
        return results


def speechmos_input_length() -> float:
    """The window length speechmos's DNSMOS scores, in seconds (9.01)."""
    import speechmos.dnsmos

    return float(speechmos.dnsmos.INPUT_LENGTH)
