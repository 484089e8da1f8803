"""Our FocalCodec-S implementation, checkpoint-compatible with upstream ``focalcodec`` v0.0.2.

Public API:
    FocalCodec            the codec (upstream constructor/API, plus training pass, rates, save/load)
    CodecOutput           what ``FocalCodec.forward_train`` returns
    grow                  50 -> 25 -> 12.5 Hz growth by one 2x layer pair, ``(grown, new_param_names)``
    CheckpointError       bad, missing or unreachable checkpoints
    configs               published and tiny configurations
"""

from fcodec.models import configs
from fcodec.models.bsq import BinarySphericalQuantizer
from fcodec.models.codec import DEFAULT_CONFIGS, REGISTRY, CodecOutput, FocalCodec
from fcodec.models.focalnet import FocalDecoder, FocalEncoder
from fcodec.models.growth import ADAPTED_PARAM_PREFIXES, grow
from fcodec.models.hub import CheckpointError
from fcodec.models.vocos import Vocos
from fcodec.models.wavenext import WaveNeXt
from fcodec.models.wavlm import WavLM

__all__ = [
    "ADAPTED_PARAM_PREFIXES",
    "BinarySphericalQuantizer",
    "CheckpointError",
    "CodecOutput",
    "DEFAULT_CONFIGS",
    "FocalCodec",
    "FocalDecoder",
    "FocalEncoder",
    "REGISTRY",
    "Vocos",
    "WaveNeXt",
    "WavLM",
    "configs",
    "grow",
]
