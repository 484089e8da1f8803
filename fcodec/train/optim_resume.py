"""A resumed run trains with the optimizer settings of its config, not the checkpoint's.

``optimizer.load_state_dict`` restores every param group's hyperparameters as they were saved, and a scheduler's
``load_state_dict`` its own settings (the plateau scheduler's factor, patience and floors, the exponential decay's
gamma): a rerun with a lower ``optim.lr`` (the NaN guard's own advice) or ``gan.lr`` would silently keep the old
one while ``config.yaml`` shows the new one. :func:`load_optimizer_state` is the one way a checkpoint's optimizer
and scheduler are loaded (the codec's and the discriminators'): the current config's values are put back after
loading (the moments, step counts and the schedulers' progress are kept) and every change is logged.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import torch

log = logging.getLogger(__name__)

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
