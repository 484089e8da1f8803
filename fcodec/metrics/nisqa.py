"""NISQA v2.0 speech quality judge: overall MOS and four quality dimensions, no reference signal needed.

The MOS_Q of the codec comparisons this project reproduces is NISQA's ``mos_pred``. The weights are the published
``weights/nisqa.tar`` of gabrielmittag/NISQA (CC BY-NC-SA 4.0: non-commercial), loaded into fcodec's own
implementation (:mod:`fcodec.metrics.nisqa_model`, front end in :mod:`fcodec.metrics.nisqa_features`) with
``torch.load(weights_only=True)``: a file that holds anything but tensors and plain containers is refused, never
unpickled.

    judge = NisqaPredictor.from_checkpoint("data/models/mos/nisqa.tar", device="cuda")
    scores = judge.predict([audio_16k_a, audio_16k_b], sample_rate=16000)  # [{"mos": 4.1, "noisiness": ...}, ...]

Like the reference, the mel spectrogram is computed at the input's own sample rate (the checkpoint's ``ms_sr`` is
unset, so the reference's ``librosa.load(sr=None)`` keeps the file's rate): pass audio at the rate it was
recorded or decoded at, without resampling it first.
"""

from __future__ import annotations

import contextlib
import logging
import math
import pickle
from pathlib import Path
from typing import ContextManager, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from fcodec.metrics.nisqa_features import min_samples, waveform_segments
from fcodec.metrics.nisqa_model import (
    NISQA_DIMENSIONS,
    NisqaConfig,
    NisqaDimModel,
    UnsupportedNisqaCheckpoint,
    state_dict_from_checkpoint,
)

__all__ = ["NISQA_DIMENSIONS", "NISQA_SHA256", "NISQA_URL", "NisqaPredictor", "UnsupportedNisqaCheckpoint"]

log = logging.getLogger(__name__)

NISQA_COMMIT = "fe84f0f252abec382b24367d5b22498a7ce34dbb"
NISQA_URL = f"https://github.com/gabrielmittag/NISQA/raw/{NISQA_COMMIT}/weights/nisqa.tar"
NISQA_SHA256 = "7ec4cf937514dd3f8860b21e66fabd8ca87a168572675ef8d979c4c4ad2e805c"
NISQA_LICENSE = "CC BY-NC-SA 4.0 (weights); MIT (reference code)"


def load_nisqa_checkpoint(path: Union[str, Path]) -> tuple[NisqaConfig, Dict[str, torch.Tensor]]:
    """(config, state dict in this implementation's names) from a reference checkpoint, loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NISQA checkpoint not found: {path} (fetch {NISQA_URL}, sha256 {NISQA_SHA256})")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refuses any global it does not know, before constructing it: nothing was executed
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnsupportedNisqaCheckpoint(
            f"{path}: refusing to load: the file holds objects other than tensors and plain containers, which "
            f"could run code when unpickled ({first_line}); use the published weights/nisqa.tar (sha256 "
            f"{NISQA_SHA256})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise UnsupportedNisqaCheckpoint(f"{path}: not a readable PyTorch checkpoint ({err})") from None
    if not isinstance(checkpoint, dict) or "args" not in checkpoint or "model_state_dict" not in checkpoint:
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise UnsupportedNisqaCheckpoint(
            f"{path}: not a NISQA checkpoint (expected 'args' and 'model_state_dict', found {keys})"
        )
    config = NisqaConfig.from_args(checkpoint["args"], source=str(path))
    return config, state_dict_from_checkpoint(checkpoint["model_state_dict"])


class NisqaPredictor:
    """Batched NISQA v2.0 prediction: waveforms -> {mos, noisiness, discontinuity, coloration, loudness}.

    The front end runs on CPU, the network on ``device``. Scores do not depend on the batch (padding is masked
    throughout), and are deterministic in eval mode.
    """

    name = "nisqa"

    def __init__(self, model: NisqaDimModel, device: Union[str, torch.device] = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()  # see FramewiseCnn.forward
        self.config = model.config

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> "NisqaPredictor":
        config, state = load_nisqa_checkpoint(path)
        model = NisqaDimModel(config)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UnsupportedNisqaCheckpoint(
                f"{path}: parameters do not match NISQA_DIM (missing {missing}, unexpected {unexpected})"
            )
        return cls(model, device)

    def _checked(self, waveform: np.ndarray, sample_rate: int, index: int) -> Optional[np.ndarray]:
        """The waveform as 1-D float32, or None (logged) when it cannot be scored."""
        audio = np.asarray(waveform)
        if not np.issubdtype(audio.dtype, np.floating):
            # int16 samples would be read as +-32767 "amplitudes": the dB input (hence the scores) would be wrong
            raise ValueError(f"NISQA: waveform {index} is {audio.dtype}; pass float audio scaled to [-1, 1]")
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if not audio.flags.writeable:  # torch.from_numpy warns about (and cannot protect) read-only memory
            audio = audio.copy()
        if audio.ndim == 2 and 1 in audio.shape:
            audio = audio.reshape(-1)
        if audio.ndim != 1:
            raise ValueError(f"NISQA: waveform {index} must be mono (1-D), got shape {audio.shape}")
        shortest = min_samples(self.config, sample_rate)
        if audio.size < shortest:
            log.warning(
                "NISQA: waveform %d has %d samples (%.3f s), at least %d (%.2f s) are needed; scored NaN",
                index,
                audio.size,
                audio.size / sample_rate,
                shortest,
                shortest / sample_rate,
            )
            return None
        if not np.isfinite(audio).all():
            log.warning("NISQA: waveform %d has NaN or infinite samples; scored NaN", index)
            return None
        return audio

    def _exact_convolutions(self) -> ContextManager:
        return exact_convolutions(self.device)

    @torch.inference_mode()
    def predict(
        self, waveforms: Sequence[np.ndarray], sample_rate: int, batch_size: int = 16
    ) -> List[Dict[str, float]]:
        """One dict per waveform (keys NISQA_DIMENSIONS, in input order), all at ``sample_rate``.

        A waveform too short for one segment (0.14 s) or with non-finite samples is logged and scored NaN; the others
        are scored. Unlike the reference, inputs longer than the training maximum (``config.max_segments``
        segments, 52 s) are scored whole rather than refused; self-attention memory grows with their square.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        audios = [self._checked(w, sample_rate, i) for i, w in enumerate(waveforms)]
        results: List[Dict[str, float]] = [dict.fromkeys(NISQA_DIMENSIONS, math.nan) for _ in audios]
        # batches of similar length waste less work on padding (the scores themselves do not depend on it);
        # features are made batch by batch, so memory does not grow with the number of waveforms
        order = sorted((i for i, a in enumerate(audios) if a is not None), key=lambda i: audios[i].size)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            segments = [waveform_segments(torch.from_numpy(audios[i]), int(sample_rate), self.config) for i in batch]
            inputs = torch.cat(segments).to(self.device)
            with self._exact_convolutions():
                scores = self.model(inputs, [s.shape[0] for s in segments]).float().cpu().numpy()
            for i, row in zip(batch, scores):
                results[i] = {dim: float(value) for dim, value in zip(NISQA_DIMENSIONS, row)}
        return results


def exact_convolutions(device: Union[str, torch.device]) -> ContextManager:
    """On CUDA: full-fp32, deterministic cuDNN convolutions (TF32, allowed by default, rounds their inputs to
    10 mantissa bits; autotuning may pick different algorithms run to run). Elsewhere: nothing to do."""
    if torch.device(device).type != "cuda":
        return contextlib.nullcontext()
    return torch.backends.cudnn.flags(
        enabled=torch.backends.cudnn.enabled, benchmark=False, deterministic=True, allow_tf32=False
    )
