"""AdamW with per-group learning rates, a linear LR warm-up, and ReduceLROnPlateau on the dev loss.

The warm-up is a pure function of the step (so it needs no state of its own on resume); the plateau scheduler
takes over after it and is stepped once per validation. Both act on each group's ``lr`` relative to the group's
``initial_lr``, so the new/inherited ratio is kept.
"""

from __future__ import annotations

from typing import Dict, List

import torch

from fcodec.train.config import OptimConfig


def build_optimizer(groups: List[dict], cfg: OptimConfig, fused: bool = False) -> torch.optim.AdamW:
    """AdamW over ``groups``; ``fused``: torch's single-kernel implementation (train.compile on CUDA)."""
    for group in groups:
        group["initial_lr"] = group["lr"]
    return torch.optim.AdamW(
        groups,
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        fused=True if fused else None,
    )


def build_plateau(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=cfg.plateau_factor,
        patience=cfg.plateau_patience,
        threshold=cfg.plateau_threshold,
        threshold_mode="rel",
        cooldown=cfg.plateau_cooldown,
        min_lr=cfg.min_lr,
    )


def warmup_factor(step: int, cfg: OptimConfig) -> float:
    """LR multiplier for 0-based ``step``: linear from ``warmup_start_factor`` to 1 over ``warmup_steps``."""
    if cfg.warmup_steps <= 0 or step >= cfg.warmup_steps:
        return 1.0
    start = cfg.warmup_start_factor
    return start + (1.0 - start) * step / cfg.warmup_steps


def apply_warmup(optimizer: torch.optim.Optimizer, step: int, cfg: OptimConfig) -> None:
    """During the warm-up set each group's lr from its initial lr; afterwards leave it to the plateau scheduler."""
    if cfg.warmup_steps <= 0 or step > cfg.warmup_steps:
        return
    factor = warmup_factor(step, cfg)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


def current_lrs(optimizer: torch.optim.Optimizer) -> Dict[str, float]:
    return {group.get("name", str(i)): float(group["lr"]) for i, group in enumerate(optimizer.param_groups)}
