"""Codec configurations (upstream ``config.json`` schema): the published checkpoints and tiny test models.

The published ``config.json`` files could not be read while this was written (docs/architecture.md, What is
not established): the entries below are inferred (v0.0.2 defaults with ``causal=True`` everywhere for the
streaming models, the SpeechBrain recipe widths for the non-causal ones). They are used to build models of the
right shape offline (tests, benchmarks, the tiny maker); ``FocalCodec.from_pretrained(repo_id)`` always reads the real file.

Tiny configs keep what fixes the rates (WavLM front-end strides 320x, 4-frame chunks, WaveNeXt hop 480, BSQ
2048) and shrink widths, depths and windows so a few seconds of audio run in well under a second on a CPU.
"""

from __future__ import annotations

import copy
from typing import Any, Dict

__all__ = [
    "CAUSAL_50HZ_2K",
    "DEFAULT_REPO",
    "PUBLISHED_CONFIGS",
    "causal_config",
    "noncausal_config",
    "tiny_causal_config",
    "tiny_noncausal_config",
    "get_config",
]

DEFAULT_REPO = "lucadellalib/focalcodec_50hz_2k_causal"


def causal_config(codebook_size: int = 2048) -> Dict[str, Any]:
    """FocalCodec-Stream: causal 50 Hz, WaveNeXt 24 kHz, the v0.0.2 defaults with a given codebook.

    Parameters
    ----------
    codebook_size : int, default 2048
        Tokens per frame, a power of two; the latent dimension is its log2.

    Returns
    -------
    dict
        A new config in the ``config.json`` schema (the ten ``FocalCodec`` keywords).
    """
    dim = codebook_size.bit_length() - 1
    return {
        "encoder_name": "WavLM",
        "encoder_config": {
            "hidden_dims": [512] * 7,
            "kernel_sizes": [10, 3, 3, 3, 3, 2, 2],
            "strides": [5, 2, 2, 2, 2, 2, 2],
            "num_layers": 6,
            "dim": 1024,
            "ffn_dim": 4096,
            "num_heads": 16,
            "num_buckets": 320,
            "max_distance": 800,
            "max_cached_steps": 2048,
            "dropout": 0.0,
            "conv_pos": 128,
            "conv_pos_groups": 16,
            "causal": True,
            "window_size": 512,
            "lookahead_size": 3,
        },
        "compressor_name": "FocalEncoder",
        "compressor_config": {
            "input_dim": 1024,
            "output_dim": dim,
            "hidden_dims": [1024, 1024, 1024],
            "downscale_factors": [1, 1, 1],
            "focal_window": 14,
            "focal_level": 2,
            "focal_factor": 4,
            "dropout": 0.0,
            "use_post_norm": False,
            "use_layerscale": False,
            "layerscale_init": 1e-4,
            "tanhscale_init": 0.5,
            "normalize_modulator": False,
            "causal": True,
            "window_size": 512,
        },
        "quantizer_name": "BinarySphericalQuantizer",
        "quantizer_config": {"codebook_size": codebook_size},
        "decompressor_name": "FocalDecoder",
        "decompressor_config": {
            "input_dim": dim,
            "output_dim": 1024,
            "hidden_dims": [1024, 1024, 1024],
            "upscale_factors": [1, 1, 1],
            "focal_window": 14,
            "focal_level": 2,
            "focal_factor": 4,
            "dropout": 0.0,
            "use_post_norm": False,
            "use_layerscale": False,
            "layerscale_init": 1e-4,
            "tanhscale_init": 0.5,
            "normalize_modulator": False,
            "causal": True,
            "window_size": 512,
            "last_window_size": 512,
            "lookahead_size": 3,
        },
        "decoder_name": "WaveNeXt",
        "decoder_config": {
            "input_dim": 1024,
            "num_layers": 8,
            "dim": 1024,
            "ffn_dim": 2048,
            "kernel_size": 7,
            "hop_length": 480,
            "causal": True,
        },
    }


def noncausal_config(downscale_factors=(1, 1, 1), focal_window: int = 14, focal_factor: int = 4) -> Dict[str, Any]:
    """Non-causal FocalCodec (Vocos 16 kHz, 8192 codebook, widths 1024/512/256 as in the SpeechBrain recipe).

    Published factor placement: compressor ``[2,1,1]``/``[2,2,1]``, decompressor reversed (docs/architecture.md, Growth).

    Parameters
    ----------
    downscale_factors : sequence of int, default (1, 1, 1)
        Compressor factors (three layers); the decompressor gets them reversed. ``(1, 1, 1)`` is 50 Hz,
        ``(2, 1, 1)`` 25 Hz, ``(2, 2, 1)`` 12.5 Hz.
    focal_window : int, default 14
        First focal-level kernel of the compressor and decompressor.
    focal_factor : int, default 4
        Kernel growth per focal level.

    Returns
    -------
    dict
        A new config in the ``config.json`` schema.
    """
    factors = list(downscale_factors)
    return {
        "encoder_name": "WavLM",
        "encoder_config": {"causal": False},
        "compressor_name": "FocalEncoder",
        "compressor_config": {
            "input_dim": 1024,
            "output_dim": 13,
            "hidden_dims": [1024, 512, 256],
            "downscale_factors": factors,
            "focal_window": focal_window,
            "focal_level": 2,
            "focal_factor": focal_factor,
            "causal": False,
        },
        "quantizer_name": "BinarySphericalQuantizer",
        "quantizer_config": {"codebook_size": 8192},
        "decompressor_name": "FocalDecoder",
        "decompressor_config": {
            "input_dim": 13,
            "output_dim": 1024,
            "hidden_dims": [256, 512, 1024],
            "upscale_factors": factors[::-1],
            "focal_window": focal_window,
            "focal_level": 2,
            "focal_factor": focal_factor,
            "causal": False,
        },
        "decoder_name": "Vocos",
        "decoder_config": {
            "input_dim": 1024,
            "num_layers": 8,
            "dim": 512,
            "ffn_dim": 1536,
            "kernel_size": 7,
            "n_fft": 1024,
            "hop_length": 320,
            "causal": False,
        },
    }


CAUSAL_50HZ_2K = causal_config(2048)

PUBLISHED_CONFIGS: Dict[str, Dict[str, Any]] = {
    "lucadellalib/focalcodec_50hz": noncausal_config((1, 1, 1)),
    "lucadellalib/focalcodec_25hz": noncausal_config((2, 1, 1)),
    "lucadellalib/focalcodec_12_5hz": noncausal_config((2, 2, 1)),
    "lucadellalib/focalcodec_50hz_65k_causal": causal_config(65536),
    "lucadellalib/focalcodec_50hz_4k_causal": causal_config(4096),
    "lucadellalib/focalcodec_50hz_2k_causal": CAUSAL_50HZ_2K,
}


def tiny_causal_config(codebook_size: int = 2048, width: int = 32) -> Dict[str, Any]:
    """A few-hundred-thousand-parameter causal model with the real rates (50 Hz, 80 ms chunks, 24 kHz out).

    Parameters
    ----------
    codebook_size : int, default 2048
        Tokens per frame, a power of two.
    width : int, default 32
        Base width: front-end convs and focal layers ``width``, transformer and decoder ``2 * width``.

    Returns
    -------
    dict
        A new config in the ``config.json`` schema.
    """
    dim = codebook_size.bit_length() - 1
    return {
        "encoder_name": "WavLM",
        "encoder_config": {
            "hidden_dims": [width] * 7,
            "kernel_sizes": [10, 3, 3, 3, 3, 2, 2],
            "strides": [5, 2, 2, 2, 2, 2, 2],
            "num_layers": 2,
            "dim": 2 * width,
            "ffn_dim": 4 * width,
            "num_heads": 4,
            "num_buckets": 32,
            "max_distance": 64,
            "max_cached_steps": 0,
            "conv_pos": 8,
            "conv_pos_groups": 4,
            "causal": True,
            "window_size": 16,
            "lookahead_size": 3,
        },
        "compressor_name": "FocalEncoder",
        "compressor_config": {
            "input_dim": 2 * width,
            "output_dim": dim,
            "hidden_dims": [width, width],
            "downscale_factors": [1, 1],
            "focal_window": 3,
            "focal_level": 2,
            "focal_factor": 2,
            "causal": True,
            "window_size": 8,
        },
        "quantizer_name": "BinarySphericalQuantizer",
        "quantizer_config": {"codebook_size": codebook_size},
        "decompressor_name": "FocalDecoder",
        "decompressor_config": {
            "input_dim": dim,
            "output_dim": 2 * width,
            "hidden_dims": [width, width],
            "upscale_factors": [1, 1],
            "focal_window": 3,
            "focal_level": 2,
            "focal_factor": 2,
            "causal": True,
            "window_size": 8,
            "last_window_size": 8,
            "lookahead_size": 3,
        },
        "decoder_name": "WaveNeXt",
        "decoder_config": {
            "input_dim": 2 * width,
            "num_layers": 2,
            "dim": 2 * width,
            "ffn_dim": 4 * width,
            "kernel_size": 7,
            "hop_length": 480,
            "causal": True,
        },
    }


def tiny_noncausal_config(downscale_factors=(1, 1), codebook_size: int = 8192, width: int = 32) -> Dict[str, Any]:
    """Tiny non-causal model (Vocos 16 kHz), for tests of the bidirectional paths.

    Parameters
    ----------
    downscale_factors : sequence of int, default (1, 1)
        Compressor factors (two layers); the decompressor gets them reversed.
    codebook_size : int, default 8192
        Tokens per frame, a power of two.
    width : int, default 32
        Base width, as in ``tiny_causal_config``.

    Returns
    -------
    dict
        A new config in the ``config.json`` schema.
    """
    config = tiny_causal_config(codebook_size, width)
    for part in ("encoder_config", "compressor_config", "decompressor_config"):
        config[part]["causal"] = False
    config["compressor_config"]["downscale_factors"] = list(downscale_factors)
    config["decompressor_config"]["upscale_factors"] = list(downscale_factors)[::-1]
    config["decoder_name"] = "Vocos"
    config["decoder_config"] = {
        "input_dim": 2 * width,
        "num_layers": 2,
        "dim": 2 * width,
        "ffn_dim": 4 * width,
        "kernel_size": 7,
        "n_fft": 1024,
        "hop_length": 320,
        "causal": False,
    }
    return config


_NAMED = {
    "causal-2k": lambda: causal_config(2048),
    "causal-4k": lambda: causal_config(4096),
    "causal-65k": lambda: causal_config(65536),
    "tiny": tiny_causal_config,
    "tiny-noncausal": tiny_noncausal_config,
}


def get_config(name: str) -> Dict[str, Any]:
    """A deep copy of a named config: a published repo id, or one of ``causal-2k``, ``tiny``, ... .

    Parameters
    ----------
    name : str
        A key of ``PUBLISHED_CONFIGS`` (e.g. ``lucadellalib/focalcodec_50hz_2k_causal``) or one of
        ``causal-2k``, ``causal-4k``, ``causal-65k``, ``tiny``, ``tiny-noncausal``.

    Returns
    -------
    dict
        A new config in the ``config.json`` schema.

    Raises
    ------
    KeyError
        Unknown name (the message lists the known ones).
    """
    if name in PUBLISHED_CONFIGS:
        return copy.deepcopy(PUBLISHED_CONFIGS[name])
    if name in _NAMED:
        return _NAMED[name]()
    raise KeyError(f"unknown codec config {name!r}; known: {sorted(_NAMED) + sorted(PUBLISHED_CONFIGS)}")
