"""Building a training run's parts: the model it starts from, its losses, what trains, and the trainer.

Where a training run starts: the pretrained codec (the 50 Hz run) or the previous run's best model grown by one
2x layer pair (the 25 and 12.5 Hz runs), and which of its parameters count as new. The choice is recorded in
``<exp_dir>/init.json`` (source, frame rates and bitrates before and after, the new parameter names), so every
run says which model it was initialised from.

:func:`build_trainer` is the one place a :class:`~fcodec.train.trainer.Trainer` is wired (with the
discriminators' :class:`~fcodec.train.adversary.Adversary` when the config has ``gan:``): the trainer entry point
(:mod:`fcodec.train.run`), ``tools/benchmarks/bench_train.py`` and the tests all call it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch.nn as nn

from fcodec.train.adversary import Adversary, build_discriminators, gan_setup
from fcodec.train.compile import compile_training
from fcodec.train.config import ConfigError, ModelConfig, TrainConfig
from fcodec.train.distributed import DistInfo
from fcodec.train.objective import CodecObjective, CodecTrainModule, Objective
from fcodec.train.params import DECODER_PREFIX, TRAINABLE_MODES, ParamPlan, build_param_plan
from fcodec.train.trainer import Trainer

log = logging.getLogger(__name__)


@dataclass
class StartModel:
    """The model a training run starts from (loaded, and grown when ``model.grow``), and its discriminators."""

    codec: Any  # fcodec.models.FocalCodec
    grown_param_names: List[str] = field(default_factory=list)  # tensors the growth created
    new_param_specs: List[str] = field(default_factory=list)  # grown names + adapted prefixes (codec-relative)
    info: Dict[str, Any] = field(default_factory=dict)
    discriminators: Any = None  # fcodec.models.discriminators.Discriminators of a run with gan:, else None


def _rates(codec) -> Dict[str, float]:
    return {
        "frame_rate": float(codec.frame_rate),
        "bitrate": float(codec.bitrate),
        "codebook_size": int(codec.codebook_size),
    }


def _source_name(init_from: str) -> str:
    """A local path is recorded absolute (the recipe passes paths relative to its folder); a repo id as is."""
    return os.path.abspath(init_from) if os.path.exists(init_from) else init_from


def load_start_model(cfg: ModelConfig, seed: int) -> StartModel:
    from fcodec.models import FocalCodec, grow

    if not cfg.init_from:
        raise ConfigError(
            "model.init_from is empty: give the pretrained codec folder (for the 50 Hz training run) or the "
            "previous run's exported best/ folder (for a grown run: 25 or 12.5 Hz)"
        )
    if cfg.grow not in (0, 1):
        raise ConfigError(
            f"model.grow={cfg.grow}: a training run grows by one 2x layer pair at most (0 or 1); grow "
            f"from each run's best/ in turn to go further"
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
    return StartModel(codec=codec, grown_param_names=grown, new_param_specs=specs, info=info)


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
                "%s says this run started from %s; this rerun names %s (the checkpoints decide: resuming)",
                path,
                old.get("init_from"),
                info.get("init_from"),
            )
        return path
    return atomic_write_json(path, info)


def build_codec_plan(module: CodecTrainModule, cfg: TrainConfig, start: StartModel) -> ParamPlan:
    """What trains in a codec training run: the mode's modules, plus the new tensors (grown layers, the adapted
    projections, a CTC head), which also take optim.lr_new and alone train during model.new_only_steps."""
    if cfg.model.trainable not in TRAINABLE_MODES:
        raise ValueError(f"model.trainable must be one of {sorted(TRAINABLE_MODES)}, not {cfg.model.trainable!r}")
    trainable = [f"codec.{p}" for p in TRAINABLE_MODES[cfg.model.trainable]]
    if cfg.model.train_decoder and f"codec.{DECODER_PREFIX}" not in trainable:
        trainable.append(f"codec.{DECODER_PREFIX}")
    new = [f"codec.{s}" for s in start.new_param_specs]
    if any(p.requires_grad for p in module.losses.parameters()):
        new.append("losses.")  # the CTC head starts untrained
    decoder = {"decoder": [f"codec.{DECODER_PREFIX}"]} if f"codec.{DECODER_PREFIX}" in trainable else None
    return build_param_plan(module, trainable, new, cfg.model.new_only_steps, own_lr_specs=decoder)


def losses_with_assets(cfg: TrainConfig) -> dict:
    """The losses section with the assets filled in where a term needs a file and names none."""
    losses = {name: (dict(term) if isinstance(term, dict) else term) for name, term in cfg.losses.items()}
    for term, key, value in (("asr", "whisper", cfg.assets.whisper), ("ctc", "bpe_model", cfg.assets.bpe_model)):
        entry = losses.get(term)
        if isinstance(entry, dict) and not entry.get(key):
            if not value:
                raise ValueError(f"losses.{term} needs {key}: set losses.{term}.{key} or assets.{key}")
            entry[key] = value
    return losses


def build_codec_module(
    cfg: TrainConfig, exp_dir: Path, dist: DistInfo = DistInfo()
) -> Tuple[StartModel, CodecTrainModule, ParamPlan]:
    """The run's starting codec, its losses, and the parameter plan (seeded by train.seed: every rank builds
    the same grown layers)."""
    from fcodec.losses.combined import build_losses

    start = load_start_model(cfg.model, seed=cfg.train.seed)
    codec = start.codec
    gan = None
    if cfg.gan is not None:  # built after the codec, so the codec's (grown) weights do not depend on it
        check_gan_terms(cfg)
        start.discriminators = build_discriminators(cfg.gan).to(dist.device)
        gan = gan_setup(cfg.gan, start.discriminators)
    losses = build_losses(
        losses_with_assets(cfg),
        sample_rate=codec.sample_rate_output,
        input_sample_rate=codec.sample_rate_input,
        latent_dim=codec.latent_dim,
        exp_dir=exp_dir,
        rank=dist.rank,
        device=dist.device,
        gan=gan,
    )
    module = CodecTrainModule(codec, losses).to(dist.device)
    if cfg.train.compile:
        compile_training(module)
    return start, module, build_codec_plan(module, cfg, start)


def check_gan_terms(cfg: TrainConfig) -> None:
    """A gan: section without a generator term would train discriminators nobody listens to."""
    from fcodec.losses.adversarial import GAN_TERMS

    def weighted(term: Any) -> bool:
        return bool(term.get("weight")) if isinstance(term, dict) else bool(term)

    if not any(weighted(cfg.losses.get(name)) for name in GAN_TERMS):
        raise ConfigError(
            "gan: is set but losses has neither adversarial nor feature_matching with a weight: "
            "add e.g. losses.adversarial.weight=1.0 losses.feature_matching.weight=6.0"
        )


def build_trainer(
    cfg: TrainConfig,
    exp_dir: os.PathLike,
    model: nn.Module,
    plan: ParamPlan,
    *,
    dist: Optional[DistInfo] = None,
    train_dl: Any = None,
    dev_dl: Any = None,
    discriminators: Optional[nn.Module] = None,
    objective: Optional[Objective] = None,
    sample_rates: Optional[Tuple[int, int]] = None,
    export_best: Optional[Callable[[nn.Module, Path], None]] = None,
    info: Optional[Dict[str, Any]] = None,
) -> Trainer:
    """The trainer of ``model`` (and, with ``gan:``, of its discriminators).

    For a :class:`CodecTrainModule` (what :func:`build_codec_module` returns) the objective, the sample rates the
    discriminators judge at and the export of ``best/`` (``save_pretrained``) come from the codec, and
    ``discriminators`` must be the run's (``StartModel.discriminators``): its GAN loss terms judge with them.
    Any other model (the tests' toy) names its ``objective`` and ``export_best``, and ``sample_rates``
    (output, input) with ``gan:``; its discriminators are built from the config unless given. Loaders may be None
    for a caller that drives :meth:`Trainer.train_step` itself (after :meth:`Trainer.prepare`).
    """
    dist = dist if dist is not None else DistInfo()
    if isinstance(model, CodecTrainModule):
        codec = model.codec
        objective = objective if objective is not None else CodecObjective(model)
        sample_rates = sample_rates or (codec.sample_rate_output, codec.sample_rate_input)
        export_best = export_best or (lambda m, folder: m.codec.save_pretrained(folder))
        if cfg.gan is not None and discriminators is None:
            raise ValueError("a codec run's GAN loss terms judge with the run's discriminators: pass them")
    if objective is None or export_best is None:
        raise ValueError(f"a {type(model).__name__} (not a CodecTrainModule) needs an objective and export_best")
    adversary = None
    if cfg.gan is not None:
        if sample_rates is None:
            raise ValueError("gan: needs the sample rates (output, input) the discriminators judge at")
        if discriminators is None:
            discriminators = build_discriminators(cfg.gan)
        adversary = Adversary(cfg.gan, discriminators, sample_rates[0], sample_rates[1], dist)
        log.info(
            "discriminators %s: %d parameters, from step %d, %s loss",
            adversary.names,
            sum(p.numel() for p in discriminators.parameters()),
            cfg.gan.start_step,
            cfg.gan.loss,
        )
    return Trainer(
        cfg, Path(exp_dir), model, objective, plan, train_dl, dev_dl, dist, export_best, info=info, adversary=adversary
    )
