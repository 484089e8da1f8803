"""What the trainer runs on batches: one training step (:func:`train_step`) and one pass over the dev set
(:func:`dev_pass`).

A training step backpropagates the generator's loss and clips its gradients; with discriminators (from
``gan.start_step``) their step follows on the detached reconstruction. One flag, reduced over ranks, says whether
any loss or gradient norm was non-finite: then both optimizer steps are skipped together and the NaN guard counts
it (:mod:`fcodec.train.nonfinite`); otherwise both optimizers step. The step's values go to the trainer's
interval log, read from the device in one transfer (the step's only wait for the device without discriminators).

The dev pass runs at each validation, in eval mode, without gradients and with the RNG states preserved
(:func:`fcodec.train.rng.preserved_rng`): every rank's share, summed over batches and ranks, averaged per item.
Loss terms are weighted by each batch's item count; the objective's additive statistics (e.g. the token
histogram) are summed and handed to ``Objective.summarize``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, ContextManager, Dict, Optional, Tuple

import torch
import torch.nn as nn

from fcodec.train.distributed import DistInfo, all_gather_objects, all_reduce_max, all_reduce_sum
from fcodec.train.nonfinite import NonFiniteError
from fcodec.train.objective import Objective, StepResult, move_to
from fcodec.train.optim import apply_warmup

log = logging.getLogger("fcodec.train.trainer")  # the trainer's log lines, as before the step had its module


def train_step(trainer: Any, batch: Any) -> None:
    """One step of a :class:`fcodec.train.trainer.Trainer` at ``trainer.state.step`` (which the caller advances)."""
    step = trainer.state.step
    if trainer.plan.apply(trainer.model, step):
        log.info(
            "step %d: new-only warm-up over, now training %d parameter tensors",
            step,
            sum(p.requires_grad for p in trainer.model.parameters()),
        )
        trainer.wrap()
    apply_warmup(trainer.optimizer, step, trainer.cfg.optim)
    trainer.model.train()
    start = time.perf_counter()
    batch = move_to(batch, trainer.dist.device)
    with trainer.autocast():
        result: StepResult = trainer.objective.compute(trainer.wrapped, batch, step, train=True)
    result.loss.backward()
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    max_norm = trainer.cfg.optim.grad_clip if trainer.cfg.optim.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    disc = None  # the discriminators' step (after the generator's backward, on its detached output)
    if trainer.adversary is not None and trainer.adversary.active(step):
        disc = trainer.adversary.backward(result.output, batch, trainer.autocast)
    # the flag stays on the device: with the logged values below it crosses to the host in one transfer,
    # the step's only wait for the device (without discriminators)
    bad = (~(torch.isfinite(result.loss.detach()) & torch.isfinite(grad_norm))).float().reshape(1)
    if trainer.adversary is not None and not trainer.adversary.finite(disc):
        bad = torch.ones_like(bad)
    # one flag for all ranks: a rank whose loss is inf but whose gradients look finite must still skip
    all_reduce_max(bad, trainer.dist)
    names = list(result.terms)
    scalars = torch.cat(
        [bad, result.loss.detach().float().reshape(1), grad_norm.detach().float().reshape(1)]
        + [result.terms[k].detach().float().reshape(1).to(bad.device) for k in names]
    ).tolist()
    bad_flag, loss_value, grad_norm_value = scalars[:3]
    terms = dict(zip(names, scalars[3:]))
    if disc is not None:
        terms.update(disc["values"])
    if bad_flag > 0:
        trainer.optimizer.zero_grad(set_to_none=True)
        if trainer.adversary is not None:
            trainer.adversary.discard()
        try:
            trainer.guard.skip(step, batch, terms, grad_norm_value)
        except NonFiniteError:
            set_aside_diverged(trainer, step - trainer.guard.streak + 1)
            raise
        trainer.interval.add({"skipped": 1.0})
        return
    trainer.optimizer.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    if disc is not None:
        trainer.adversary.apply()
    trainer.guard.ok()
    trainer.interval.add(
        {
            "loss": loss_value,
            "grad_norm": grad_norm_value,
            # up to the optimizer's launch: the device may still be running it (wall_per_step is the cadence)
            "step_time": time.perf_counter() - start,
            "skipped": 0.0,
            **terms,
        }
    )


def set_aside_diverged(trainer: Any, first_bad_step: int) -> None:
    """After a NaN stop: the checkpoints written from the first step of the failing streak on are moved
    aside, so a rerun (with a lower optim.lr, say) resumes from before the divergence."""
    if not trainer.dist.is_main:
        return
    folder = trainer.checkpoints.set_aside(first_bad_step, f"diverged-step{first_bad_step}")
    left = trainer.checkpoints.list()
    log.error(
        "training diverged from step %d on%s; a rerun resumes from %s",
        first_bad_step,
        f": the checkpoints written since were moved to {folder}" if folder else "",
        left[-1][1] if left else "step 0 (no earlier checkpoint is left: move best/ aside first)",
    )


def dev_pass(
    model: nn.Module,
    objective: Objective,
    dev_dl: Any,
    dist: DistInfo,
    step: int,
    autocast: Callable[[], ContextManager],
    max_batches: int = 0,
) -> Tuple[Dict[str, float], Optional[Any]]:
    """The dev metrics (``loss``, each term, the objective's summaries) and the first batch (for audio examples).

    Every rank must call it (the sums are reduced over ranks); ``max_batches`` > 0 stops each rank early."""
    sums: Dict[str, torch.Tensor] = {}
    first_batch = None
    for index, batch in enumerate(dev_dl):
        if max_batches and index >= max_batches:
            break
        batch = move_to(batch, dist.device)
        if first_batch is None:
            first_batch = batch
        with autocast():
            result = objective.compute(model, batch, step, train=False)
        n = float(result.num_items)
        values = {
            "loss": result.loss.detach().double() * n,
            **{f"term/{k}": v.detach().double() * n for k, v in result.terms.items()},
            **{f"stat/{k}": v.detach().double() for k, v in result.stats.items()},
        }
        values["items"] = torch.tensor(n, dtype=torch.float64, device=dist.device)
        for key, value in values.items():
            sums[key] = sums[key] + value if key in sums else value.clone()
    keys = sorted(sums)
    key_lists = all_gather_objects(keys, dist)
    if any(k != keys for k in key_lists):
        raise RuntimeError(f"ranks computed different dev statistics: {key_lists}")
    for key in keys:
        all_reduce_sum(sums[key], dist)
    if "items" not in sums or sums["items"].item() == 0:
        raise RuntimeError("the dev data loader yields no batches: check data.dev_cuts")
    items = sums["items"].item()
    dev = {"loss": sums["loss"].item() / items}
    dev.update({k[5:]: sums[k].item() / items for k in keys if k.startswith("term/")})
    dev.update(objective.summarize({k[5:]: sums[k] for k in keys if k.startswith("stat/")}))
    return dev, first_batch
