"""One training run end to end: config -> model, losses, data -> :class:`Trainer` -> ``best/``.

``fcodec.bin.train`` is the command line over :func:`run_training`. The run's folder (``--exp-dir``) gets::

    config.yaml          the resolved config (YAML + overrides), with the command line in its header
    init.json            which model the run started from, rates before/after, the new parameter names
    log/log-train-<time>[-rank<r>]   plain log of each run (a resumed run starts a new file)
    tensorboard/         events: every loss term, LR per group, grad norm, codebook usage/perplexity, audio
    checkpoints/checkpoint-<step>.pt   resumable checkpoints, the last train.keep_last_k kept
    best/                config.json + model.safetensors (FocalCodec.from_pretrained loads it) + training_info.json
    train_summary.json   steps, stop reason, best dev loss and step, frame rate, bitrate (written at the end)
    train.lock           pid and host of the run training in the folder (a second run refuses to start)
    bad-batch-step<N>-rank<r>.pt   only if the NaN guard stopped the run
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from fcodec.train.build import build_codec_module, build_trainer, write_init_record
from fcodec.train.config import TrainConfig, config_diff, dump_config, load_config, renamed_keys, to_dict
from fcodec.train.distributed import DistInfo, barrier, cleanup_distributed, init_distributed
from fcodec.train.lock import exp_dir_lock
from fcodec.train.preflight import check_inputs, check_values
from fcodec.train.rng import seed_everything
from fcodec.train.trainer import TrainSummary
from fcodec.utils.environment import environment_info
from fcodec.utils.io import atomic_write_json, atomic_write_text
from fcodec.utils.logging import setup_logging
from fcodec.utils.yaml_safe import safe_yaml

log = logging.getLogger(__name__)


def configure_torch(cfg: TrainConfig) -> None:
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    if cfg.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def write_config_record(exp_dir: Path, cfg: TrainConfig, command: str) -> None:
    """``config.yaml``; when a rerun resolves to a different config the differences are logged first."""
    path = exp_dir / "config.yaml"
    if path.exists():
        try:
            # a record written before a key was renamed says its old name: not a difference
            old = renamed_keys(safe_yaml(path.read_text(encoding="utf-8")) or {}, str(path), quiet=True)
            diffs = config_diff(old, to_dict(cfg))
            if diffs:
                log.warning("the config differs from the previous run's %s:\n  %s", path, "\n  ".join(diffs))
        except Exception as exc:  # an unreadable old record must not stop training
            log.warning("cannot compare with the previous %s: %s", path, exc)
    header = f"Resolved training config written by fcodec.bin.train\ncommand: {command}"
    atomic_write_text(path, dump_config(cfg, header))


def warn_text_losses_on_crops(cfg: TrainConfig) -> None:
    """The ASR and CTC losses compare the audio with the utterance's text; a random crop keeps only part of the
    audio (and pseudo-labels are cached per cut id), so those terms want whole utterances."""
    terms = [
        t
        for t in ("asr", "ctc")
        if isinstance(cfg.losses.get(t), dict) and (cfg.losses[t].get("weight") or cfg.losses[t].get("start_weight"))
    ]
    if terms and cfg.data.segment_duration is not None:
        log.warning(
            "losses %s use the transcript of the whole utterance, but data.segment_duration=%s trains on "
            "random crops of it: the text will not match the audio. Set data.segment_duration=null.",
            terms,
            cfg.data.segment_duration,
        )


def build_loaders(cfg: TrainConfig):
    from fcodec.data import build_dataloader

    for name in ("train_cuts", "dev_cuts"):
        path = getattr(cfg.data, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"data.{name}: cut manifest {path} not found (stage 2 of the recipe writes it)")
    train_dl = build_dataloader(
        cfg.data.train_cuts,
        train=True,
        max_duration=cfg.data.max_duration,
        segment_duration=cfg.data.segment_duration,
        num_workers=cfg.data.num_workers,
        seed=cfg.train.seed,
        num_buckets=cfg.data.num_buckets,
    )
    dev_dl = build_dataloader(
        cfg.data.dev_cuts,
        train=False,
        max_duration=cfg.data.dev_max_duration or cfg.data.max_duration,
        num_workers=cfg.data.num_workers,
        seed=cfg.train.seed,
        num_buckets=cfg.data.num_buckets,
    )
    return train_dl, dev_dl


def run_training(
    config: Optional[os.PathLike], exp_dir: os.PathLike, overrides: Sequence[str] = (), command: str = ""
) -> TrainSummary:
    cfg = load_config(config, overrides)
    check_values(cfg)  # before the lock, the log, config.yaml and the model: a refused run leaves nothing behind
    check_inputs(cfg)
    exp_dir = Path(exp_dir)
    # rank 0 holds the exp dir for the whole run (taken before the process group: a refused run starts nothing)
    with exp_dir_lock(exp_dir, command, enabled=int(os.environ.get("RANK", "0")) == 0):
        return _run_training(cfg, exp_dir, command)


def _run_training(cfg: TrainConfig, exp_dir: Path, command: str) -> TrainSummary:
    dist: DistInfo = init_distributed(cfg.train.device)
    try:
        exp_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
        suffix = f"-rank{dist.rank}" if dist.rank else ""
        setup_logging(exp_dir / "log" / f"log-train-{stamp}{suffix}", rank=dist.rank)
        configure_torch(cfg)
        seed_everything(cfg.train.seed)  # the same on every rank: the grown layers must start equal
        if dist.is_main:
            write_config_record(exp_dir, cfg, command or "run_training")
        environment = environment_info()
        log.info("environment: %s; world size %d, device %s", environment, dist.world_size, dist.device)
        log.info("config:\n%s", dump_config(cfg))

        start, module, plan = build_codec_module(cfg, exp_dir, dist)
        codec = start.codec
        if dist.is_main:
            write_init_record(exp_dir, start.info)
        log.info(
            "model from %s: %.4g Hz, %.4g bps, codebook %d (was %.4g Hz, %.4g bps)%s",
            start.info["init_from"],
            codec.frame_rate,
            codec.bitrate,
            codec.codebook_size,
            start.info["source"]["frame_rate"],
            start.info["source"]["bitrate"],
            f"; grown, {len(start.grown_param_names)} new tensors" if start.grown_param_names else "",
        )
        counts = {
            name: sum(p.numel() for n, p in module.named_parameters() if n in names)
            for name, names in (("new", plan.new), ("inherited", plan.trainable - plan.new))
        }
        log.info(
            "trainable parameters: %s of %d; loss terms: %s",
            counts,
            sum(p.numel() for p in module.parameters()),
            sorted(module.losses.terms),
        )

        warn_text_losses_on_crops(cfg)
        train_dl, dev_dl = build_loaders(cfg)
        seed_everything(cfg.train.seed + dist.rank)  # from here each rank draws its own numbers
        info = {"init": {k: v for k, v in start.info.items() if k != "codec_config"}, "env": environment}
        trainer = build_trainer(
            cfg,
            exp_dir,
            module,
            plan,
            dist=dist,
            train_dl=train_dl,
            dev_dl=dev_dl,
            discriminators=start.discriminators,
            info=info,
        )
        summary = trainer.fit()
        if dist.is_main:
            atomic_write_json(
                exp_dir / "train_summary.json",
                {
                    "steps": summary.steps,
                    "epochs": summary.epochs,
                    "stop_reason": summary.stop_reason,
                    "best_dev_loss": summary.best_loss,
                    "best_step": summary.best_step,
                    "best_dir": str(summary.best_dir),
                    "frame_rate": codec.frame_rate,
                    "bitrate": codec.bitrate,
                    "init_from": start.info["init_from"],
                    "param_checksum": summary.param_checksum,
                },
            )
        barrier(dist)
        return summary
    finally:
        cleanup_distributed()
