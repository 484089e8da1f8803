"""A resumed run trains with the optimizer settings of its config, not the checkpoint's.

``optimizer.load_state_dict`` restores every param group's hyperparameters as they were saved, and the plateau
scheduler's ``load_state_dict`` its factor, patience and floors: a rerun with a lower ``optim.lr`` (the NaN
guard's own advice) would silently keep the old one while ``config.yaml`` shows the new one. Here the current
config's values are put back after loading (the moments, step counts and the plateau's progress are kept) and
every change is logged.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import torch

log = logging.getLogger(__name__)

GROUP_KEYS = ("weight_decay", "betas", "eps", "fused")  # fused: train.compile on CUDA may be switched on resume
PLATEAU_KEYS = ("factor", "patience", "threshold", "cooldown", "min_lrs", "eps")


def hyperparameters(optimizer: torch.optim.Optimizer, plateau: Any) -> Dict[str, Any]:
    """The settings the config gave, captured before a checkpoint is loaded over them."""
    return {
        "groups": [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups],
        "plateau": {k: getattr(plateau, k) for k in PLATEAU_KEYS if hasattr(plateau, k)},
    }


def _same(a: Any, b: Any) -> bool:
    return (list(a) == list(b)) if isinstance(a, (list, tuple)) else a == b


def reapply_hyperparameters(optimizer: torch.optim.Optimizer, plateau: Any, configured: Dict[str, Any]) -> List[str]:
    """Put the configured settings back over those a checkpoint restored; return what changed (already logged).

    A group's learning rate keeps its position relative to the base rate (warm-up, plateau reductions): the
    new ``lr = new initial_lr * lr / old initial_lr``."""
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
    for key, value in configured["plateau"].items():
        if not _same(getattr(plateau, key), value):
            changes.append(f"plateau scheduler: {key} {getattr(plateau, key)} -> {value}")
            setattr(plateau, key, list(value) if isinstance(value, list) else value)
    for change in changes:
        log.warning("optimizer setting changed since the checkpoint, applied: %s", change)
    return changes


def _steps_beside_params(optimizer: torch.optim.Optimizer, group: Dict[str, Any]) -> None:
    """The fused AdamW keeps each step count as a float32 tensor on its parameter's device; a checkpoint of the
    unfused one may hold it elsewhere (what ``load_state_dict`` would have done had the group been fused)."""
    for param in group["params"]:
        state = optimizer.state.get(param, {})
        if isinstance(state.get("step"), torch.Tensor):
            state["step"] = state["step"].to(dtype=torch.float32, device=param.device)
