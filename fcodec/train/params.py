"""Which parameters train, and with which learning rate.

A :class:`ParamPlan` is built once per run from parameter-name sets:

* ``trainable`` - what ``model.trainable`` trains once any warm-up is over (e.g. every ``decompressor.*`` for
  ``decompressor_only``, plus ``compressor.*`` for ``both_ste``);
* ``new`` - parameters without a trained value yet (the grown layer pair, the projections around the quantiser,
  a CTC head). They always train, take the higher learning rate, and are the only ones that train during the
  new-only warm-up of a grown run.

* ``own_lr`` - named groups of trainable parameters with a learning rate of their own (``decoder`` when the
  decoder is fine-tuned: ``model.train_decoder`` with ``optim.lr_decoder``).

Everything else gets ``requires_grad = False`` so no gradient is computed for it. The optimizer holds every
parameter that trains at any point, in groups named ``new``, ``inherited`` and those of ``own_lr``; during the
warm-up the inherited ones simply receive no gradient, which AdamW skips without touching their moments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set

import torch.nn as nn

# Model-level modes -> parameter-name prefixes of the codec (relative to the FocalCodec module).
TRAINABLE_MODES: Dict[str, Sequence[str]] = {
    "decompressor_only": ("decompressor.",),
    "both_ste": ("compressor.", "decompressor."),
    # the decoder alone (WaveNeXt / Vocos head); model.train_decoder adds it to either mode above instead
    "decoder_only": ("decoder.",),
}
DECODER_PREFIX = "decoder."


def matches(name: str, spec: str) -> bool:
    """``spec`` is an exact parameter name or a prefix; ``"a.b"`` matches ``a.b`` and ``a.b.*`` but not ``a.bc``."""
    return name == spec or name.startswith(spec if spec.endswith(".") else spec + ".")


def select(names: Iterable[str], specs: Sequence[str]) -> List[str]:
    return [n for n in names if any(matches(n, s) for s in specs)]


@dataclass
class ParamPlan:
    trainable: Set[str]
    new: Set[str]
    new_only_steps: int = 0
    all_names: List[str] = field(default_factory=list)
    own_lr: Dict[str, Set[str]] = field(default_factory=dict)

    def trains(self) -> Set[str]:
        """Every parameter that trains at some step (the optimizer holds exactly these)."""
        return self.trainable | self.new

    def in_warmup(self, step: int) -> bool:
        return step < self.new_only_steps and bool(self.new)

    def trainable_at(self, step: int) -> Set[str]:
        return set(self.new) if self.in_warmup(step) else self.trains()

    def apply(self, model: nn.Module, step: int) -> bool:
        """Set ``requires_grad`` for ``step``; returns True if anything changed (the DDP wrapper must be rebuilt)."""
        wanted = self.trainable_at(step)
        changed = False
        for name, param in model.named_parameters():
            flag = name in wanted
            if param.requires_grad != flag:
                param.requires_grad_(flag)
                changed = True
        return changed

    def param_groups(
        self,
        model: nn.Module,
        lr: float,
        lr_new: float,
        weight_decay: float,
        own_lrs: Optional[Dict[str, float]] = None,
    ) -> List[dict]:
        """AdamW groups in a fixed order (``new``, ``inherited``, then ``own_lr``'s), each tagged with its
        ``name`` for logging; ``own_lrs`` gives each ``own_lr`` group its rate (absent: ``lr``)."""
        params = dict(model.named_parameters())
        groups = []
        own = set().union(*self.own_lr.values()) if self.own_lr else set()
        new = [params[n] for n in self.all_names if n in self.new]
        inherited = [params[n] for n in self.all_names if n in self.trainable and n not in self.new and n not in own]
        if new:
            groups.append({"name": "new", "params": new, "lr": lr_new, "weight_decay": weight_decay})
        if inherited:
            groups.append({"name": "inherited", "params": inherited, "lr": lr, "weight_decay": weight_decay})
        for name, members in self.own_lr.items():
            tensors = [params[n] for n in self.all_names if n in members and n not in self.new]
            if tensors:
                groups.append(
                    {"name": name, "params": tensors, "lr": (own_lrs or {}).get(name, lr), "weight_decay": weight_decay}
                )
        if not groups:
            raise ValueError("no parameter trains: check model.trainable and the model's parameter names")
        return groups

    def describe(self) -> str:
        own = "".join(f", {len(m - self.new)} {name}" for name, m in self.own_lr.items())
        return (
            f"{len(self.trains())} of {len(self.all_names)} parameter tensors train "
            f"({len(self.new)} new, {len(self.trainable - self.new)} inherited{own}); "
            f"new-only warm-up: {self.new_only_steps} steps"
        )


def build_param_plan(
    model: nn.Module,
    trainable_specs: Sequence[str],
    new_specs: Sequence[str] = (),
    new_only_steps: int = 0,
    own_lr_specs: Optional[Dict[str, Sequence[str]]] = None,
) -> ParamPlan:
    """Resolve name specs (exact names or prefixes) against ``model``; a spec that matches nothing is an error,
    because it means the config and the model disagree (a typo, or a model of another shape)."""
    names = [n for n, _ in model.named_parameters()]
    own_lr_specs = dict(own_lr_specs or {})
    for kind, specs in (("trainable", trainable_specs), ("new", new_specs), *own_lr_specs.items()):
        for spec in specs:
            if not any(matches(n, spec) for n in names):
                raise ValueError(f"{kind} parameter spec {spec!r} matches no parameter of the model")
    return ParamPlan(
        trainable=set(select(names, trainable_specs)),
        new=set(select(names, new_specs)),
        new_only_steps=max(0, int(new_only_steps)),
        all_names=names,
        own_lr={
            name: set(select(names, specs)) & set(select(names, trainable_specs))
            for name, specs in own_lr_specs.items()
        },
    )
