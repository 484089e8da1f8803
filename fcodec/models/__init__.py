"""Our FocalCodec-S implementation, checkpoint-compatible with upstream ``focalcodec`` v0.0.2.

Public API:
    FocalCodec            the codec (upstream constructor/API, plus training pass, rates, save/load)
    CodecOutput           what ``FocalCodec.forward_train`` returns
    grow                  50 -> 25 -> 12.5 Hz growth by one 2x layer pair, ``(grown, new_param_names)``
    CheckpointError       bad, missing or unreachable checkpoints
    configs               published and tiny configurations
"""

# Light to import (PEP 562): each name loads its module (and torch) when first used, so that torch-free parts of
# the package (fcodec.models.posthoc_presets, read by every ./run.sh's option check) start in milliseconds.
import importlib

_LAZY = {
    "configs": "fcodec.models.configs",
    "BinarySphericalQuantizer": "fcodec.models.bsq",
    "DEFAULT_CONFIGS": "fcodec.models.codec",
    "REGISTRY": "fcodec.models.codec",
    "CodecOutput": "fcodec.models.codec",
    "FocalCodec": "fcodec.models.codec",
    "FocalDecoder": "fcodec.models.focalnet",
    "FocalEncoder": "fcodec.models.focalnet",
    "ADAPTED_PARAM_PREFIXES": "fcodec.models.growth",
    "grow": "fcodec.models.growth",
    "CheckpointError": "fcodec.models.hub",
    "Vocos": "fcodec.models.vocos",
    "WaveNeXt": "fcodec.models.wavenext",
    "WavLM": "fcodec.models.wavlm",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'fcodec.models' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if _LAZY[name] == f"fcodec.models.{name}" else getattr(module, name)
    globals()[name] = value
    return value
