"""The training loop shared by every training run and every world size.

One :class:`Trainer` runs a training run: it resumes from the newest checkpoint in ``<exp_dir>/checkpoints`` if there is
one, trains step by step (AdamW, clipping, bf16 autocast on CUDA, the NaN guard), validates every
``train.dev_interval`` steps (ReduceLROnPlateau, best model, early stopping), writes resumable checkpoints every
``train.save_every_n`` steps, and logs to TensorBoard and the log file. Under torchrun the model is wrapped in
DDP and only rank 0 writes; the code path is otherwise the same.

Adversarial training. With a ``gan:`` section the trainer gets an :class:`fcodec.train.adversary.Adversary`: each
step then runs the generator's backward, the discriminators' backward (from ``gan.start_step``), one NaN check
over both, and both optimizer steps; the discriminators' state is saved in the checkpoint under ``"gan"``.

Exact resume. The loop position is (epoch, batches consumed in the epoch, global step). On resume the sampler is
put back at that position (lhotse replays the epoch's first batches, metadata only), the DataLoader iterator is
created, and only then are the RNG states restored. The training DataLoader draws its worker seed from a
generator of its own (see :meth:`Trainer._seed_loader`), so creating an iterator, eagerly or lazily, never moves
the global RNG. Validation runs under :func:`preserved_rng`, so it never moves the training RNG streams either.
With ``train.deterministic`` on CPU, a run killed and rerun ends with the same weights as one never interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from fcodec.train.adversary import Adversary
from fcodec.train.best import checkpointed, may_replace_best, recover_best_dir, start_run, write_best_dir
from fcodec.train.checkpoint import (
    CheckpointManager,
    LoopState,
    param_checksum,
    restore_sampler_position,
    restore_trainer,
    trainer_state,
)
from fcodec.train.compile import use_fused_optimizer
from fcodec.train.config import TrainConfig, to_dict
from fcodec.train.distributed import DistInfo, all_gather_objects, barrier
from fcodec.train.monitor import IntervalLog, Monitor
from fcodec.train.nonfinite import NonFiniteGuard
from fcodec.train.objective import Objective
from fcodec.train.optim import build_optimizer, build_plateau, current_lrs
from fcodec.train.params import ParamPlan
from fcodec.train.passes import dev_pass, train_step
from fcodec.train.rng import capture_rng_state, preserved_rng, restore_rng_state

log = logging.getLogger(__name__)


@dataclass
class TrainSummary:
    steps: int
    epochs: int
    best_loss: float
    best_step: int
    stop_reason: str
    best_dir: Path
    param_checksum: str
    history: list = field(default_factory=list)


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        exp_dir: Path,
        model: nn.Module,
        objective: Objective,
        plan: ParamPlan,
        train_dl: Any,
        dev_dl: Any,
        dist: DistInfo,
        export_best: Callable[[nn.Module, Path], None],
        info: Optional[Dict[str, Any]] = None,
        adversary: Optional[Adversary] = None,
    ):
        self.cfg = cfg
        self.exp_dir = Path(exp_dir)
        self.model = model.to(dist.device)
        self.objective = objective
        self.plan = plan
        self.train_dl = train_dl
        self.dev_dl = dev_dl
        self.dist = dist
        self.export_best = export_best
        self.info = dict(info or {})
        self.adversary = adversary
        self.best_dir = self.exp_dir / "best"
        self.state = LoopState()
        self.checkpoints = CheckpointManager(self.exp_dir, cfg.train.keep_last_k)
        self.guard = NonFiniteGuard(cfg.train.max_nonfinite, self.exp_dir, dist.rank)
        # the optimizer holds every parameter that trains at any step; requires_grad is set per step in fit()
        self.optimizer = build_optimizer(
            plan.param_groups(
                self.model,
                cfg.optim.lr,
                cfg.optim.lr_new,
                cfg.optim.weight_decay,
                own_lrs={"decoder": cfg.optim.lr_decoder} if cfg.optim.lr_decoder else None,
            ),
            cfg.optim,
            fused=use_fused_optimizer(cfg.train.compile, dist.device),
        )
        self.plateau = build_plateau(self.optimizer, cfg.optim)
        self.wrapped: nn.Module = self.model
        self.monitor: Optional[Monitor] = None
        self.history: list = []
        self.interval = IntervalLog()  # what the next log line averages
        self._saved_step = -1
        self.run_id = uuid.uuid4().hex  # a resumed run takes its checkpoint's: best/ belongs to one run

    # ------------------------------------------------------------------------------------------------ set-up

    def wrap(self) -> None:
        """(Re)build the DDP wrapper; needed whenever the set of parameters requiring grad changes."""
        if not self.dist.distributed:
            self.wrapped = self.model
            return
        device_ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        self.wrapped = DistributedDataParallel(
            self.model, device_ids=device_ids, find_unused_parameters=self.cfg.train.find_unused_parameters
        )

    def prepare(self, step: int = 0) -> None:
        """Set what trains at ``step`` and wrap the model (and the discriminators) for DDP: what :meth:`fit` does
        before its first step, for a caller that drives :meth:`train_step` itself (a benchmark, a test)."""
        self.plan.apply(self.model, step)
        self.wrap()
        if self.adversary is not None:
            self.adversary.wrap()

    def autocast(self):
        if self.dist.device.type == "cuda" and self.cfg.train.amp == "bf16":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if self.cfg.train.amp not in ("bf16", "none"):
            raise ValueError(f"train.amp must be bf16 or none, not {self.cfg.train.amp!r}")
        return contextlib.nullcontext()

    def _resume(self) -> Optional[Dict[str, Any]]:
        if self.dist.is_main:
            self.checkpoints.remove_partial_writes()
        barrier(self.dist)
        found = self.checkpoints.load_latest(map_location=self.dist.device)
        if found is None:
            if self.dist.is_main:
                self.run_id = start_run(self.exp_dir, self.best_dir, self.checkpoints.dir, self.run_id)
            return None
        path, ckpt = found
        pending = restore_trainer(self, path, ckpt)
        self._saved_step = self.state.step
        log.info(
            "resumed from %s: step %d, epoch %d (%d batches into it), best dev loss %.6g at step %d",
            path,
            self.state.step,
            self.state.epoch,
            self.state.batches_in_epoch,
            self.state.best_loss,
            self.state.best_step,
        )
        return pending

    # ------------------------------------------------------------------------------------------------ the loop

    def stop_reason(self) -> Optional[str]:
        t = self.cfg.train
        if t.max_steps > 0 and self.state.step >= t.max_steps:
            return f"reached train.max_steps={t.max_steps}"
        if t.max_epochs > 0 and self.state.epoch >= t.max_epochs:
            return f"reached train.max_epochs={t.max_epochs}"
        if t.early_stop_patience > 0 and self.state.bad_validations >= t.early_stop_patience:
            return (
                f"early stop: {self.state.bad_validations} validations without improving the best dev loss "
                f"{self.state.best_loss:.6g} (step {self.state.best_step})"
            )
        return None

    def fit(self) -> TrainSummary:
        if self.dist.is_main:
            recover_best_dir(self.best_dir)
        pending = self._resume()
        # events the interrupted run wrote after its checkpoint are dropped; the ones up to it stay
        self.monitor = Monitor(
            self.exp_dir, enabled=self.dist.is_main, purge_step=self.state.step + 1 if pending else None
        )
        self.prepare(self.state.step)
        log.info("%s", self.plan.describe())
        try:
            while self.stop_reason() is None:
                sampler = self.train_dl.sampler
                restore_sampler_position(
                    sampler,
                    pending["sampler"] if pending is not None else {"epoch": self.state.epoch, "batches_consumed": 0},
                )
                self._seed_loader(self.state.epoch)
                batches = iter(self.train_dl)
                if pending is not None:
                    restore_rng_state(pending["rng"])
                    pending = None
                produced = 0
                while True:
                    fetch_start = time.perf_counter()
                    try:
                        batch = next(batches)
                    except StopIteration:
                        break
                    self.interval.data_time += time.perf_counter() - fetch_start
                    produced += 1
                    self.train_step(batch)
                    self.state.step += 1
                    self.state.batches_in_epoch += 1
                    self._after_step()
                    if self.stop_reason() is not None:
                        break
                if self.stop_reason() is not None:
                    break
                if produced == 0 and self.state.batches_in_epoch == 0:
                    raise RuntimeError(
                        "the training data loader yields no batches: check data.train_cuts and "
                        "data.max_duration / data.segment_duration"
                    )
                self.state.epoch += 1
                self.state.batches_in_epoch = 0
            reason = self.stop_reason() or "finished"
            self._finish(reason)
        finally:
            self.monitor.close()
        checksum = param_checksum(self.model)
        log.info(
            "training finished (%s) at step %d; best dev loss %.6g at step %d; parameter checksum %s",
            reason,
            self.state.step,
            self.state.best_loss,
            self.state.best_step,
            checksum,
        )
        return TrainSummary(
            steps=self.state.step,
            epochs=self.state.epoch,
            best_loss=self.state.best_loss,
            best_step=self.state.best_step,
            stop_reason=reason,
            best_dir=self.best_dir,
            param_checksum=checksum,
            history=self.history,
        )

    def _seed_loader(self, epoch: int) -> None:
        """Give the training DataLoader a generator of its own, seeded by (seed, rank, epoch).

        A DataLoader draws a seed for its workers whenever its iterator is created, by default from torch's
        global RNG; a loader whose ``__iter__`` is a generator creates that iterator lazily, at the first batch,
        so the draw would land after a resumed run restored the RNG and shift every later random number.
        ``generator`` is a public DataLoader attribute that may be set between epochs.
        """
        if isinstance(self.train_dl, torch.utils.data.DataLoader):
            generator = torch.Generator()
            generator.manual_seed((self.cfg.train.seed * 1_000_003 + self.dist.rank) * 10_007 + epoch)
            self.train_dl.generator = generator

    def _after_step(self) -> None:
        t = self.cfg.train
        step = self.state.step
        if t.log_interval > 0 and step % t.log_interval == 0:
            self._log_interval()
        stopping = self.stop_reason() is not None
        if t.dev_interval > 0 and step % t.dev_interval == 0:
            self._validate()
        stopping = stopping or self.stop_reason() is not None
        if (t.save_every_n > 0 and step % t.save_every_n == 0) and not stopping:
            self._save()

    def _finish(self, reason: str) -> None:
        """Validate the final weights if the last step was not validated, write the last checkpoint, make sure
        ``best/`` exists."""
        if self.interval.count:
            self._log_interval()
        if self.state.last_dev_step != self.state.step:
            self._validate()
        if self._saved_step != self.state.step:  # known on every rank alike (ranks may not share a file system)
            self._save()
        if self.dist.is_main and not (self.best_dir / "training_info.json").exists():
            log.warning("no finite dev loss was ever reached; exporting the final weights as %s", self.best_dir)
            self._write_best(math.nan)
        barrier(self.dist)
        log.info("stopping: %s", reason)

    # ------------------------------------------------------------------------------------------------ one step

    def train_step(self, batch: Any) -> None:
        """One optimizer step on ``batch`` (and the discriminators' from ``gan.start_step``), or a skipped one."""
        train_step(self, batch)

    def _log_interval(self) -> None:
        """Write the interval's averages (over steps and ranks) to the log and TensorBoard."""
        values = self.interval.average(self.dist)
        lrs = current_lrs(self.optimizer)
        if self.adversary is not None:
            lrs["disc"] = self.adversary.lr()
        extra = self.objective.scalars(self.state.step)
        step = self.state.step
        log.info(
            "step %d epoch %d | %s | lr %s%s",
            step,
            self.state.epoch,
            " ".join(f"{k} {v:.4g}" for k, v in values.items()),
            " ".join(f"{k} {v:.3g}" for k, v in lrs.items()),
            "".join(f" | {k} {v:.4g}" for k, v in extra.items()),
        )
        self.monitor.scalars("train", values, step)
        self.monitor.scalars("train", {f"lr_{k}": v for k, v in lrs.items()}, step)
        self.monitor.scalars("train", extra, step)
        self.monitor.scalars("train", {"epoch": self.state.epoch}, step)
        self.interval.reset()

    # ------------------------------------------------------------------------------------------------ validation

    def _validate(self) -> float:
        step = self.state.step
        start = time.perf_counter()
        with preserved_rng(), torch.no_grad():
            self.model.eval()
            dev, first_batch = dev_pass(
                self.model, self.objective, self.dev_dl, self.dist, step, self.autocast, self.cfg.data.max_dev_batches
            )
            if self.dist.is_main and first_batch is not None and self.cfg.train.num_audio_samples > 0:
                for name, wave, sr in self.objective.audio_examples(
                    self.model, first_batch, self.cfg.train.num_audio_samples
                ):
                    self.monitor.audio(f"dev/{name}", wave, sr, step)
            self.model.train()
        loss = dev["loss"]
        self.state.last_dev_step = step
        improved = math.isfinite(loss) and loss < self.state.best_loss - self.cfg.train.early_stop_min_delta
        if improved:
            self.state.best_loss, self.state.best_step, self.state.bad_validations = loss, step, 0
            if self.dist.is_main:
                self._write_best(loss)
            barrier(self.dist)
        else:
            self.state.bad_validations += 1
        if step >= self.cfg.optim.warmup_steps and math.isfinite(loss):
            self.plateau.step(loss)
        dev["time"] = time.perf_counter() - start
        self.history.append({"step": step, **dev})
        log.info(
            "validation at step %d | %s | %s",
            step,
            " ".join(f"{k} {v:.5g}" for k, v in dev.items()),
            f"new best (saved to {self.best_dir})"
            if improved
            else f"best {self.state.best_loss:.5g} at step {self.state.best_step}, "
            f"{self.state.bad_validations} without improvement",
        )
        self.monitor.scalars("dev", dev, step)
        self.monitor.scalars("dev", {"best_loss": self.state.best_loss}, step)
        self.monitor.flush()
        return loss

    def _write_best(self, loss: float) -> None:
        if not may_replace_best(self.best_dir, loss, self.run_id):
            return
        info = {
            **self.info,
            "step": self.state.step,
            "epoch": self.state.epoch,
            "dev_loss": loss,
            "run_id": self.run_id,
            "config": to_dict(self.cfg),
        }
        write_best_dir(self.best_dir, lambda folder: self.export_best(self.model, folder), info)

    # ------------------------------------------------------------------------------------------------ checkpoints

    def _save(self) -> None:
        rng = all_gather_objects(capture_rng_state(), self.dist)
        if self.dist.is_main:
            state = trainer_state(self, rng)
            streak = self.guard.streak  # the steps it skipped began at state.step - streak (0-based, as set aside)
            path = self.checkpoints.save(state, self.state.step, self.state.step - streak if streak else None)
            checkpointed(self.exp_dir)
            log.info("saved %s", path)
        self._saved_step = self.state.step
        barrier(self.dist)
