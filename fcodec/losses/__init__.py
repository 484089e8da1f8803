"""Training losses: feature MSE, multi-scale mel, multi-resolution STFT, Whisper ASR, CTC head, weight schedules.

Each loss is an ``nn.Module`` whose ``forward`` returns a scalar; weights live in the config
(:mod:`fcodec.losses.combined` builds the set a training config asks for).
"""

from fcodec.losses.asr import WhisperASRLoss
from fcodec.losses.combined import CodecLosses, build_losses
from fcodec.losses.ctc import CTCHead, CTCHeadLoss
from fcodec.losses.feature import FeatureMSELoss
from fcodec.losses.mel import MultiScaleMelLoss
from fcodec.losses.resample import Resample, resample, resampled_length, resampled_lengths
from fcodec.losses.schedule import WeightSchedule
from fcodec.losses.stft import MultiResolutionSTFTLoss
from fcodec.losses.whisper_targets import format_target

__all__ = [
    "CodecLosses",
    "CTCHead",
    "CTCHeadLoss",
    "FeatureMSELoss",
    "MultiResolutionSTFTLoss",
    "MultiScaleMelLoss",
    "Resample",
    "WeightSchedule",
    "WhisperASRLoss",
    "build_losses",
    "format_target",
    "resample",
    "resampled_length",
    "resampled_lengths",
]
