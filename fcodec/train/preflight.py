"""What a training run checks before it builds a model or writes a file: values that cannot work and inputs
that are not there. Each failure is a :class:`fcodec.train.config.ConfigError` naming the key and the fix.

:func:`check_values` needs no files (``--print-config`` runs it); :func:`check_inputs` opens the manifests and
the starting model's files.
"""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Any, Optional

from fcodec.train.config import ConfigError, TrainConfig
from fcodec.utils.cli import UserError


def _positive(value: Optional[float], key: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={value}: must be a positive number" + (" or null" if optional else ""))


def _at_least(value: Any, low: float, key: str, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value < low:
        raise ConfigError(f"{key}={value!r}: must be {'an integer' if integer else 'a number'} >= {low}")


def _in_range(value: Any, low: float, high: float, key: str, what: str) -> None:
    """``low < value <= high`` (``what`` says it in words for the error)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low < value <= high):
        raise ConfigError(f"{key}={value!r}: must be {what}")


def _betas(value: Any, key: str) -> None:
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    if not ok or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b < 1 for b in value):
        raise ConfigError(f"{key}={value!r}: must be two numbers in [0, 1) (AdamW's beta1, beta2)")


def _int_list(value: Any, low: int, key: str) -> None:
    if not isinstance(value, (list, tuple)) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise ConfigError(f"{key}={value!r}: must be a list of integers")
    if any(v < low for v in value):
        raise ConfigError(f"{key}={value!r}: every value must be >= {low}")


def check_optim(optim: Any) -> None:
    """The codec's optimizer settings: each a value AdamW and the schedulers accept and that trains."""
    _positive(optim.lr, "optim.lr")
    _positive(optim.lr_new, "optim.lr_new", optional=True)
    _positive(optim.lr_decoder, "optim.lr_decoder", optional=True)
    _betas(optim.betas, "optim.betas")
    _positive(optim.eps, "optim.eps")
    _at_least(optim.weight_decay, 0, "optim.weight_decay")
    _at_least(optim.grad_clip, 0, "optim.grad_clip")
    _at_least(optim.warmup_steps, 0, "optim.warmup_steps", integer=True)
    _in_range(optim.warmup_start_factor, 0, 1, "optim.warmup_start_factor", "in (0, 1]")
    _in_range(optim.plateau_factor, 0, 1, "optim.plateau_factor", "in (0, 1] (1: no reduction)")
    _at_least(optim.plateau_patience, 0, "optim.plateau_patience", integer=True)
    _at_least(optim.min_lr, 0, "optim.min_lr")


def check_gan(gan: Any) -> None:
    """The ``gan:`` section: discriminators that can be built, a known loss, an optimizer that trains."""
    from fcodec.losses.adversarial import LOSS_KINDS

    _int_list(gan.periods, 1, "gan.periods")
    if not isinstance(gan.resolutions, (list, tuple)) or any(
        not isinstance(r, (list, tuple)) or len(r) != 3 for r in gan.resolutions
    ):
        raise ConfigError(f"gan.resolutions={gan.resolutions!r}: must be a list of [n_fft, hop, window]")
    for i, resolution in enumerate(gan.resolutions):
        _int_list(resolution, 1, f"gan.resolutions[{i}]")
        if resolution[2] > resolution[0]:
            raise ConfigError(f"gan.resolutions[{i}]={list(resolution)}: the window must not exceed n_fft")
    if not gan.periods and not gan.resolutions:
        raise ConfigError("gan.periods and gan.resolutions are both empty: no discriminator to train")
    for key in ("period_channels", "period_max_channels", "resolution_channels"):
        _at_least(getattr(gan, key), 1, f"gan.{key}", integer=True)
    if gan.loss not in LOSS_KINDS:
        raise ConfigError(f"gan.loss={gan.loss!r}: unknown; choose from {list(LOSS_KINDS)}")
    _at_least(gan.start_step, 0, "gan.start_step", integer=True)
    _positive(gan.lr, "gan.lr")
    _betas(gan.betas, "gan.betas")
    _positive(gan.eps, "gan.eps")
    _at_least(gan.weight_decay, 0, "gan.weight_decay")
    _in_range(gan.lr_decay, 0, 1, "gan.lr_decay", "in (0, 1] (the per-step LR factor; 1: no decay)")
    _at_least(gan.grad_clip, 0, "gan.grad_clip")


def _loss_classes():
    from fcodec.losses.combined import (
        CTCHeadLoss,
        FeatureMSELoss,
        MultiResolutionSTFTLoss,
        MultiScaleMelLoss,
        WhisperASRLoss,
    )

    return {
        "feature": FeatureMSELoss,
        "mel": MultiScaleMelLoss,
        "stft": MultiResolutionSTFTLoss,
        "asr": WhisperASRLoss,
        "ctc": CTCHeadLoss,
    }


# what build_losses fills in itself, and what it takes out of the section before calling the class
_FILLED_IN = {"self", "sample_rate", "input_sample_rate", "latent_dim", "rank"}
_TAKEN = {"asr": {"whisper"}, "ctc": {"bpe_model"}}


def check_losses(losses: Any) -> None:
    """Every term of ``losses`` is known and every key of a term is an option of its loss (a typo such as
    ``losses.asr.wieght`` would otherwise be ignored until the model is built, or for good)."""
    from fcodec.losses.adversarial import GAN_TERMS
    from fcodec.losses.combined import SCHEDULE_KEYS, TERMS

    classes = _loss_classes()
    for name, term in (losses or {}).items():
        if name not in TERMS:
            raise ConfigError(f"losses.{name}: unknown loss term; known terms are {list(TERMS)}")
        if term is None or isinstance(term, (int, float)):
            continue
        if not isinstance(term, dict):
            raise ConfigError(f"losses.{name}: expected a weight or a mapping, got {term!r}")
        if name in GAN_TERMS:  # the discriminators' options live in the gan: section; a term has its schedule only
            valid = set(SCHEDULE_KEYS)
        else:
            parameters = inspect.signature(classes[name].__init__).parameters
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
                continue
            valid = (set(parameters) - _FILLED_IN) | set(SCHEDULE_KEYS) | _TAKEN.get(name, set())
        unknown = sorted(set(term) - valid)
        if unknown:
            raise ConfigError(f"losses.{name}: unknown key(s) {unknown}; valid keys are {sorted(valid)}")


def check_values(cfg: TrainConfig) -> None:
    check_optim(cfg.optim)
    if cfg.gan is not None:
        check_gan(cfg.gan)
    _positive(cfg.data.max_duration, "data.max_duration")
    _positive(cfg.data.dev_max_duration, "data.dev_max_duration", optional=True)
    _positive(cfg.data.segment_duration, "data.segment_duration", optional=True)
    if cfg.train.max_steps <= 0 and cfg.train.max_epochs <= 0:
        raise ConfigError("train.max_steps and train.max_epochs are both <= 0: the run would never stop; set one")
    check_losses(cfg.losses)
    from fcodec.losses.adversarial import GAN_TERMS

    if cfg.gan is None and any((cfg.losses or {}).get(name) is not None for name in GAN_TERMS):
        raise ConfigError(f"losses.{'/'.join(GAN_TERMS)} need discriminators: add a gan: section to the config")


def _first_cut(path: str, key: str):
    from lhotse import load_manifest_lazy

    try:
        manifest = load_manifest_lazy(path)  # None for an empty file
        return None if manifest is None else next(iter(manifest), None)
    except Exception as exc:  # gzip, JSON and lhotse errors alike: the file is not a cut manifest
        raise ConfigError(
            f"{key}: {path} cannot be read as a lhotse cut manifest ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); rerun stage 2 to rewrite it"
        ) from None


def _check_all_sources(path: str, key: str) -> None:
    """Every cut of a (large, lazily read) manifest has safe audio sources: a refused one deep in the training
    set would otherwise stop the run when its batch comes, hours in, as a DataLoader traceback."""
    from lhotse import load_manifest_lazy

    from fcodec.data.sources import UnsafeSourceError, check_sources

    try:
        for cut in load_manifest_lazy(path):
            check_sources(cut)
    except UnsafeSourceError as exc:
        raise ConfigError(f"{key}: {path}: {exc}") from None
    except Exception as exc:  # a line that does not parse, half way through
        raise ConfigError(
            f"{key}: {path} cannot be read to the end ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            "rerun stage 2 to rewrite it"
        ) from None


def check_inputs(cfg: TrainConfig) -> None:
    """The manifests exist and hold cuts (the dev set is read in full: it is small and every validation reads
    it), and ``model.init_from`` names a model that is there."""
    from fcodec.data.manifest_io import load_cuts

    for key in ("train_cuts", "dev_cuts"):
        path = getattr(cfg.data, key)
        if not path or not os.path.isfile(path):
            raise ConfigError(
                f"data.{key}: cut manifest {path or '(empty)'} not found (stage 2 of the recipe "
                f"writes data/cuts/{key.split('_')[0]}.jsonl.gz)"
            )
        if _first_cut(path, f"data.{key}") is None:
            raise ConfigError(f"data.{key}: {path} holds no cuts; rerun stage 2 (see its bad_input.tsv)")
    _check_all_sources(cfg.data.train_cuts, "data.train_cuts")
    try:
        load_cuts(cfg.data.dev_cuts)  # every line parses, no command/URL audio sources
    except UserError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"data.dev_cuts: {cfg.data.dev_cuts} cannot be read ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]})"
        ) from None
    _check_init_from(cfg.model.init_from)


def _check_init_from(source: str) -> None:
    from fcodec.models import CheckpointError
    from fcodec.models.hub import _REPO_ID, resolve

    if not source:
        raise ConfigError(
            "model.init_from is empty: give the pretrained codec folder (for the 50 Hz training run) or the "
            "previous run's exported best/ folder (for a grown run: 25 or 12.5 Hz)"
        )
    local = Path(source).expanduser()
    if not local.exists() and not Path(f"{local}.json").exists():
        remote_config = source.endswith(".json") and _REPO_ID.fullmatch(os.path.dirname(source))
        if _REPO_ID.fullmatch(source) or remote_config:
            return  # on the Hugging Face Hub: the model build downloads it (or finds it in the hub cache)
        raise ConfigError(
            f"model.init_from: No codec at '{source}': no such folder (the previous training run's "
            f"<exp_dir>/best, or the pretrained codec's folder)"
        )
    try:
        resolve(source)
    except CheckpointError as exc:
        raise ConfigError(f"model.init_from: {' '.join(str(exc).split())}") from None
