"""Resumable training checkpoints: ``<exp_dir>/checkpoints/checkpoint-<step>.pt``, the last K kept.

A checkpoint holds everything a rerun needs to continue as if never stopped: model, optimizer and scheduler
state, the training sampler's position, every rank's RNG states, the loop counters, and the resolved config.
Files are written atomically (temporary file, fsync, rename: ``fcodec.utils.io``), so a run killed at any
moment leaves either the old or the new file, never half of one. They contain only tensors and plain Python
values and load with ``torch.load(weights_only=True)``.

Resuming the optimizers. A resumed run trains with the optimizer settings of its config, not the checkpoint's.

``optimizer.load_state_dict`` restores every param group's hyperparameters as they were saved, and a scheduler's
``load_state_dict`` its own settings (the plateau scheduler's factor, patience and floors, the exponential decay's
gamma): a rerun with a lower ``optim.lr`` (the NaN guard's own advice) or ``gan.lr`` would silently keep the old
one while ``config.yaml`` shows the new one. :func:`load_optimizer_state` is the one way a checkpoint's optimizer
and scheduler are loaded (the codec's and the discriminators'): the current config's values are put back after
loading (the moments, step counts and the schedulers' progress are kept) and every change is logged.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from fcodec.train.config import to_dict
from fcodec.utils.cli import UserError
from fcodec.utils.io import atomic_torch_save

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1

_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")


@dataclass
class LoopState:
    step: int = 0  # training batches processed (including skipped non-finite ones)
    epoch: int = 0
    batches_in_epoch: int = 0
    best_loss: float = math.inf
    best_step: int = -1
    bad_validations: int = 0
    last_dev_step: int = -1

    @classmethod
    def from_checkpoint(cls, loop: Dict[str, Any]) -> "LoopState":
        """The ``"loop"`` entry of a checkpoint; one written before ``last_valid_step`` was named ``last_dev_step``
        says the former."""
        loop = dict(loop)
        if "last_valid_step" in loop:
            loop.setdefault("last_dev_step", loop.pop("last_valid_step"))
        return cls(**loop)


def param_checksum(model: nn.Module) -> str:
    """sha256 over every parameter and buffer: equal on two ranks iff their weights are bit-identical."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def trainer_state(trainer: Any, rng: List[Any]) -> Dict[str, Any]:
    """What a checkpoint holds of a :class:`fcodec.train.trainer.Trainer` (``rng``: every rank's RNG states)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.plateau.state_dict(),
        "sampler": sampler_position(trainer.train_dl.sampler, trainer.state.epoch, trainer.state.batches_in_epoch),
        "rng": rng,
        "loop": asdict(trainer.state),
        "nonfinite": trainer.guard.state_dict(),
        **({"gan": trainer.adversary.state_dict()} if trainer.adversary is not None else {}),
        "world_size": trainer.dist.world_size,
        "run_id": trainer.run_id,
        "config": to_dict(trainer.cfg),
    }


def restore_trainer(trainer: Any, path: Path, ckpt: Dict[str, Any]) -> Dict[str, Any]:
    """Load a checkpoint into a trainer; return what is restored only once the loop has its data iterator (the
    sampler's position and this rank's RNG states)."""
    if ckpt.get("world_size", 1) != trainer.dist.world_size:
        raise RuntimeError(
            f"{path} was written by a run with {ckpt.get('world_size')} processes; this run has "
            f"{trainer.dist.world_size}. Resume with the same number of processes (the sampler's "
            f"position depends on it) or start a new exp dir."
        )
    trainer.model.load_state_dict(ckpt["model"])
    # the config is what runs (and is recorded), here and in the discriminators' optimizer
    load_optimizer_state(trainer.optimizer, trainer.plateau, ckpt["optimizer"], ckpt["scheduler"], owner="codec")
    trainer.run_id = ckpt.get("run_id", trainer.run_id)
    trainer.state = LoopState.from_checkpoint(ckpt["loop"])
    trainer.guard.load_state_dict(ckpt["nonfinite"])
    if trainer.adversary is not None:
        if "gan" in ckpt:
            trainer.adversary.load_state_dict(ckpt["gan"], (ckpt.get("config") or {}).get("gan"))
        else:
            log.warning(
                "%s has no discriminator state (written without gan:); the discriminators start from scratch", path
            )
    return {"sampler": ckpt["sampler"], "rng": ckpt["rng"][trainer.dist.rank]}


def sampler_position(sampler: Any, epoch: int, batches_consumed: int) -> Dict[str, Any]:
    """The training sampler's state as of the trainer having consumed ``batches_consumed`` batches of ``epoch``.

    lhotse restores a sampler by replaying as many batches as its state says it produced. fcodec.data's sampler
    counts the batches the loop *received*, which is exact even with DataLoader workers; a plain lhotse sampler
    counts what it handed to the workers, which runs ahead by the prefetched batches. The trainer knows what it
    consumed, so a count that disagrees is corrected here (and said so once).
    """
    state = copy.deepcopy(sampler.state_dict())
    diagnostics = state["diagnostics"]
    stats = diagnostics["stats_per_epoch"].get(diagnostics["current_epoch"], {})
    produced = stats.get("kept_batches", 0) + stats.get("discarded_batches", 0)
    if batches_consumed > 0 and (diagnostics["current_epoch"] != epoch or produced != batches_consumed):
        global _warned
        if not _warned:
            log.warning(
                "the sampler reports %d batches drawn in epoch %d, the trainer consumed %d in epoch %d "
                "(DataLoader workers prefetching?); checkpoints record the trainer's count",
                produced,
                diagnostics["current_epoch"],
                batches_consumed,
                epoch,
            )
            _warned = True
        diagnostics["current_epoch"] = epoch
        entry = diagnostics["stats_per_epoch"].setdefault(
            epoch, {"epoch": epoch, "kept_cuts": 0, "discarded_cuts": 0, "kept_batches": 0, "discarded_batches": 0}
        )
        entry.update(kept_batches=batches_consumed, discarded_batches=0)
        state["epoch"] = epoch
    return {"epoch": int(epoch), "batches_consumed": int(batches_consumed), "lhotse": state}


def restore_sampler_position(sampler: Any, position: Dict[str, Any]) -> None:
    """Put a lhotse sampler at ``position`` so that the DataLoader's next ``iter()`` continues from there.

    lhotse's ``load_state_dict`` replays the epoch's first batches (metadata only, no audio is read); its
    shuffling is seeded by (seed, epoch), so the replay is exactly the original order.
    """
    if int(position["batches_consumed"]) == 0:
        sampler.set_epoch(int(position["epoch"]))
        return
    sampler.load_state_dict(copy.deepcopy(position["lhotse"]))


_warned = False


class CheckpointError(UserError, RuntimeError):
    """Checkpoints exist but none can be loaded: continuing from step 0 would lose (and overwrite) the run."""

    exit_code = 1  # not a bad option: the state of the folder or the run


class CheckpointManager:
    def __init__(self, exp_dir: Path, keep_last_k: int = 3):
        self.dir = Path(exp_dir) / "checkpoints"
        self.keep_last_k = max(1, int(keep_last_k))

    def list(self) -> List[Tuple[int, Path]]:
        """(step, path) of every checkpoint, oldest first."""
        if not self.dir.is_dir():
            return []
        found = []
        for path in self.dir.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def path_for(self, step: int) -> Path:
        return self.dir / f"checkpoint-{step}.pt"

    def save(self, state: Dict[str, Any], step: int, diverging_since: Optional[int] = None) -> Path:
        """Write the checkpoint of ``step`` and drop all but the last ``keep_last_k``. ``diverging_since``: the
        first step of a non-finite streak in progress; the newest checkpoint from before it is kept too, so a
        streak long enough to rotate every good checkpoint away still leaves one to resume from (a NaN stop sets
        those of the streak aside)."""
        path = atomic_torch_save(state, self.path_for(step))
        found = self.list()
        healthy = [
            found_step for found_step, _ in found if diverging_since is not None and found_step < diverging_since
        ]
        for old_step, old in found[: -self.keep_last_k]:
            if not healthy or old_step != healthy[-1]:
                old.unlink(missing_ok=True)
        return path

    def remove_partial_writes(self) -> None:
        """Temporary files of writes interrupted by a kill (the atomic write never renamed them)."""
        if self.dir.is_dir():
            for tmp in self.dir.glob(".checkpoint-*.tmp*"):
                tmp.unlink(missing_ok=True)

    def load_latest(self, map_location: Any = "cpu") -> Optional[Tuple[Path, Dict[str, Any]]]:
        """The newest checkpoint that loads; an unreadable one is reported and the one before it tried. None when
        there is no checkpoint; :class:`CheckpointError` when there are some and none loads (never a silent
        restart from step 0)."""
        found = self.list()
        for _step, path in reversed(found):
            try:
                return path, torch.load(path, map_location=map_location, weights_only=True)
            except Exception as exc:  # a file damaged outside our atomic writes (disk full, copied badly)
                log.warning(
                    "cannot load checkpoint %s (%s: %s); trying the previous one", path, type(exc).__name__, exc
                )
        if found:
            raise CheckpointError(
                f"none of the {len(found)} checkpoints in {self.dir} can be loaded "
                f"({', '.join(p.name for _, p in found)}); the run cannot continue. Restore them from a copy, or "
                f"move {self.dir} (and {self.dir.parent / 'best'}) aside to start the training run afresh"
            )
        return None

    def set_aside(self, from_step: int, reason: str) -> Optional[Path]:
        """Move the checkpoints of step >= ``from_step`` to ``checkpoints-<reason>/`` (kept, not deleted), so the
        next run resumes from an earlier one. Returns that folder, or None when nothing was moved."""
        later = [path for step, path in self.list() if step >= from_step]
        if not later:
            return None
        folder = self.dir.with_name(f"{self.dir.name}-{reason}")
        folder.mkdir(parents=True, exist_ok=True)
        for path in later:
            path.rename(folder / path.name)
        return folder


GROUP_KEYS = ("weight_decay", "betas", "eps", "fused")  # fused: train.compile on CUDA may be switched on resume
# ReduceLROnPlateau's settings and ExponentialLR's decay; a scheduler has the ones it has
SCHEDULER_KEYS = ("factor", "patience", "threshold", "cooldown", "min_lrs", "eps", "gamma")


def hyperparameters(optimizer: torch.optim.Optimizer, scheduler: Any) -> Dict[str, Any]:
    """The settings the config gave, captured before a checkpoint is loaded over them."""
    return {
        "groups": [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups],
        "scheduler": {k: getattr(scheduler, k) for k in SCHEDULER_KEYS if hasattr(scheduler, k)},
    }


def _same(a: Any, b: Any) -> bool:
    return (list(a) == list(b)) if isinstance(a, (list, tuple)) else a == b


def reapply_hyperparameters(
    optimizer: torch.optim.Optimizer, scheduler: Any, configured: Dict[str, Any], owner: str = "codec"
) -> List[str]:
    """Put the configured settings back over those a checkpoint restored; return what changed (already logged,
    naming ``owner``: whose optimizer it is).

    A group's learning rate keeps its position relative to the base rate (warm-up, plateau reductions,
    exponential decay): the new ``lr = new initial_lr * lr / old initial_lr``."""
    changes: List[str] = []
    for index, (group, fresh) in enumerate(zip(optimizer.param_groups, configured["groups"])):
        name = group.get("name", str(index))
        old_initial, new_initial = group.get("initial_lr", group["lr"]), fresh.get("initial_lr", fresh["lr"])
        if old_initial != new_initial:
            scale = group["lr"] / old_initial if old_initial else 1.0
            changes.append(
                f"group {name}: base lr {old_initial:.6g} -> {new_initial:.6g} (lr now {new_initial * scale:.6g})"
            )
            group["initial_lr"], group["lr"] = new_initial, new_initial * scale
        for key in GROUP_KEYS:
            if key in fresh and not _same(group.get(key), fresh[key]):
                changes.append(f"group {name}: {key} {group.get(key)} -> {fresh[key]}")
                group[key] = fresh[key]
                if key == "fused" and fresh[key]:
                    _steps_beside_params(optimizer, group)
    if hasattr(scheduler, "base_lrs"):  # an LRScheduler's own copy of the base rates
        scheduler.base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    for key, value in configured["scheduler"].items():
        if not _same(getattr(scheduler, key), value):
            changes.append(f"{type(scheduler).__name__}: {key} {getattr(scheduler, key)} -> {value}")
            setattr(scheduler, key, list(value) if isinstance(value, list) else value)
    for change in changes:
        log.warning("%s optimizer setting changed since the checkpoint, applied: %s", owner, change)
    return changes


def load_optimizer_state(
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    optimizer_state: Dict[str, Any],
    scheduler_state: Dict[str, Any],
    owner: str,
) -> List[str]:
    """Load a checkpoint's optimizer and scheduler state, keeping the configured settings; return what changed."""
    configured = hyperparameters(optimizer, scheduler)
    optimizer.load_state_dict(optimizer_state)
    scheduler.load_state_dict(scheduler_state)
    return reapply_hyperparameters(optimizer, scheduler, configured, owner)


def _steps_beside_params(optimizer: torch.optim.Optimizer, group: Dict[str, Any]) -> None:
    """The fused AdamW keeps each step count as a float32 tensor on its parameter's device; a checkpoint of the
    unfused one may hold it elsewhere (what ``load_state_dict`` would have done had the group been fused)."""
    for param in group["params"]:
        state = optimizer.state.get(param, {})
        if isinstance(state.get("step"), torch.Tensor):
            state["step"] = state["step"].to(dtype=torch.float32, device=param.device)
