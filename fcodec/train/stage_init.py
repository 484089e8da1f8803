"""Where a training stage starts: the pretrained codec (stage 1) or the previous stage's best model grown by one
2x layer pair (stages 2 and 3), and which of its parameters count as new.

The choice is recorded in ``<exp_dir>/init.json`` (source, frame rates and bitrates before and after, the new
parameter names), so every stage says which model it was initialised from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from fcodec.train.config import ConfigError, ModelConfig


@dataclass
class StageModel:
    codec: Any  # fcodec.models.FocalCodec
    grown_param_names: List[str] = field(default_factory=list)  # tensors the growth created
    new_param_specs: List[str] = field(default_factory=list)  # grown names + adapted prefixes (codec-relative)
    info: Dict[str, Any] = field(default_factory=dict)
    discriminators: Any = None  # fcodec.models.discriminators.Discriminators of a stage with gan:, else None


def _rates(codec) -> Dict[str, float]:
    return {
        "frame_rate": float(codec.frame_rate),
        "bitrate": float(codec.bitrate),
        "codebook_size": int(codec.codebook_size),
    }


def _source_name(init_from: str) -> str:
    """A local path is recorded absolute (the recipe passes paths relative to its folder); a repo id as is."""
    return os.path.abspath(init_from) if os.path.exists(init_from) else init_from


def init_stage_model(cfg: ModelConfig, seed: int) -> StageModel:
    from fcodec.models import FocalCodec, grow

    if not cfg.init_from:
        raise ConfigError(
            "model.init_from is empty: give the pretrained codec folder (stage 1) or the previous "
            "stage's exported best/ folder (stages 2 and 3)"
        )
    if cfg.grow not in (0, 1):
        raise ConfigError(
            f"model.grow={cfg.grow}: a stage grows by one 2x layer pair at most (0 or 1); run the "
            f"stages in sequence to go further"
        )
    codec = FocalCodec.from_pretrained(cfg.init_from)
    before = _rates(codec)
    grown: List[str] = []
    specs: List[str] = []
    if cfg.grow:
        codec, grown = grow(codec, identity_init=cfg.grow_identity_init, seed=seed)
        specs = list(grown) + [p for p in cfg.new_params if p not in grown]
    info = {
        "init_from": _source_name(cfg.init_from),
        "grown_layer_pairs": cfg.grow,
        "identity_init": cfg.grow_identity_init if cfg.grow else None,
        "source": before,
        **_rates(codec),
        "new_param_names": grown,
        "adapted_param_prefixes": list(cfg.new_params) if cfg.grow else [],
        "codec_config": codec.config,
    }
    return StageModel(codec=codec, grown_param_names=grown, new_param_specs=specs, info=info)


def write_init_record(exp_dir: Path, info: Dict[str, Any]) -> Path:
    """``<exp_dir>/init.json``; a rerun (resume) keeps the first record, which describes where the weights came
    from, and only says so if the source has changed meanwhile."""
    import json
    import logging

    from fcodec.utils.io import atomic_write_json

    path = Path(exp_dir) / "init.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("init_from") != info.get("init_from"):
            logging.getLogger(__name__).warning(
                "%s says this stage started from %s; this run names %s (the checkpoints decide: resuming)",
                path,
                old.get("init_from"),
                info.get("init_from"),
            )
        return path
    return atomic_write_json(path, info)
