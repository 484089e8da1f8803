"""The discriminators' side of adversarial training: their model, optimizer, scheduler, step and checkpoint state.

The trainer owns one :class:`Adversary` when the training config has a ``gan:`` section. A training step is then

1. the generator step (unchanged): the codec's forward pass with every loss term, the GAN terms included (they
   run the discriminators with frozen weights, :class:`fcodec.losses.adversarial.GeneratorGanLoss`), backward,
   clipping, AdamW;
2. the discriminator step (:meth:`Adversary.step`, from ``gan.start_step`` on): one pass of the discriminators
   over ``cat([real, reconstruction.detach()])`` (one forward per backward, as DDP wants), the hinge or
   least-squares loss, backward, clipping, AdamW, and the exponential LR decay.

Both steps are skipped together when either has a non-finite loss or gradient norm on any rank: the trainer's
NaN guard counts the step once. The discriminators live in their own DDP wrapper (their gradients are averaged
over ranks like the codec's) and in their own checkpoint entry (``"gan"``: weights, optimizer, scheduler), so a
resumed run continues both exactly (with the ``gan:`` optimizer settings of its config, as the codec's
optimizer: :mod:`fcodec.train.checkpoint`).
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, ContextManager, Dict, Optional

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from fcodec.losses.adversarial import GanInputs, discriminator_losses, discriminator_scores, split_judgements
from fcodec.losses.combined import GanSetup
from fcodec.models.discriminators import Discriminators
from fcodec.train.checkpoint import load_optimizer_state
from fcodec.train.config import GanConfig
from fcodec.train.distributed import DistInfo, all_reduce_max
from fcodec.utils.cli import UserError

# the gan: keys that shape the discriminators: a checkpoint's weights only fit the same values (a period-5 and a
# period-7 discriminator have the same tensor shapes, so loading would "work" and judge the wrong period)
ARCHITECTURE = ("periods", "period_channels", "period_max_channels", "resolutions", "resolution_channels")


class DiscriminatorMismatchError(UserError, RuntimeError):
    """Resuming with discriminators of another architecture than the checkpoint's."""

    exit_code = 1


def build_discriminators(cfg: GanConfig) -> Discriminators:
    return Discriminators(
        periods=cfg.periods,
        period_channels=cfg.period_channels,
        period_max_channels=cfg.period_max_channels,
        resolutions=cfg.resolutions,
        resolution_channels=cfg.resolution_channels,
    )


def gan_setup(cfg: GanConfig, discriminators: nn.Module) -> GanSetup:
    """What :func:`fcodec.losses.build_losses` needs for the generator's GAN terms."""
    return GanSetup(discriminators, kind=cfg.loss, band_limit=cfg.band_limit, start_step=cfg.start_step)


class Adversary:
    def __init__(
        self, cfg: GanConfig, discriminators: nn.Module, sample_rate: int, input_sample_rate: int, dist: DistInfo
    ):
        self.cfg = cfg
        self.dist = dist
        self.model = discriminators.to(dist.device)
        self.inputs = GanInputs(sample_rate, input_sample_rate, band_limit=cfg.band_limit).to(dist.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=cfg.lr_decay)
        self.wrapped: nn.Module = self.model
        names = getattr(discriminators, "names", None)
        self.names = list(names) if names else [str(i) for i in range(len(list(discriminators.children())))]

    def wrap(self) -> None:
        if not self.dist.distributed:
            self.wrapped = self.model
            return
        device_ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        self.wrapped = DistributedDataParallel(self.model, device_ids=device_ids)

    def active(self, step: int) -> bool:
        return step >= self.cfg.start_step

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def backward(self, output: Any, batch: Dict[str, Any], autocast: Callable[[], ContextManager]) -> Dict[str, Any]:
        """The discriminators' loss on real audio and the detached reconstruction ``output.sig``, backpropagated
        and clipped. Returns ``loss`` and ``grad_norm`` tensors and the logged values (``values``)."""
        self.model.train()
        with torch.no_grad():
            fake, real, _ = self.inputs(output.sig.detach(), batch["audio"], batch["audio_lens"])
        n = real.shape[0]
        with autocast():
            judged = self.wrapped(torch.cat([real, fake]))
        real_logits, fake_logits = split_judgements(judged, n)
        loss, per_disc = discriminator_losses(real_logits, fake_logits, self.cfg.loss)
        loss.backward()
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(list(self.model.parameters()), max_norm)
        values = {
            "disc_loss": float(loss.detach()),
            "disc_grad_norm": float(grad_norm),
            **{f"disc_loss/{name}": float(v.detach()) for name, v in zip(self.names, per_disc)},
            **discriminator_scores(real_logits, fake_logits, self.names),
        }
        return {"loss": loss.detach(), "grad_norm": grad_norm, "values": values}

    def finite(self, result: Optional[Dict[str, Any]]) -> bool:
        """This rank's discriminator step is finite (loss and gradient norm); True when there was none."""
        if result is None:
            return True
        return bool(torch.isfinite(result["loss"]) and torch.isfinite(result["grad_norm"]))

    def apply(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()

    def discard(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: Dict[str, Any], saved: Optional[Dict[str, Any]] = None) -> None:
        """Weights, moments and decay progress from a checkpoint; the ``gan:`` settings (lr, betas, eps, weight
        decay, lr_decay) from the config. ``saved``: the checkpoint's ``gan:`` section; its architecture keys must
        equal this run's (:class:`DiscriminatorMismatchError` otherwise, before anything is loaded)."""
        if saved is not None:
            as_lists = lambda v: json.loads(json.dumps(v))  # noqa: E731  tuples and lists alike
            changed = [k for k in ARCHITECTURE if as_lists(saved.get(k)) != as_lists(getattr(self.cfg, k))]
            if changed:
                raise DiscriminatorMismatchError(
                    "the checkpoint's discriminators were built with "
                    + ", ".join(f"gan.{k}={saved.get(k)}" for k in changed)
                    + "; this run has "
                    + ", ".join(f"gan.{k}={getattr(self.cfg, k)}" for k in changed)
                    + ": resume with the checkpoint's values, or start the training run in a new exp dir"
                )
        self.model.load_state_dict(state["model"])
        load_optimizer_state(
            self.optimizer, self.scheduler, state["optimizer"], state["scheduler"], owner="discriminators"
        )


def any_rank_bad(flag: bool, dist: DistInfo) -> bool:
    """True on every rank when ``flag`` is True on any."""
    bad = torch.tensor([1.0 if flag else 0.0], device=dist.device)
    all_reduce_max(bad, dist)
    return bool(bad.item() > 0)
