"""Loss weight schedules (the ASR loss's ramp, usable for any term): constant, a linear ramp, and optionally a
linear decay after it (the curriculum).

The curriculum preset (:meth:`WeightSchedule.curriculum`): the ASR weight ramps up from 0 while the
reconstruction losses settle, holds while intelligibility is won, then decays to a lower weight so the
reconstruction (and adversarial) terms can win back audio quality. The reference work names "reduce the ASR
loss's quality cost" as its next step; ramping the weight down once the dev dWER stops improving is the plain
version of that. Pick ``decay_start_step`` where the dWER of the plain run settles (stage 8 of the recipe scores
``best/``; the TensorBoard dev loss of the ``asr`` term flattens at about the same point)::

    asr:
      weight: 30.0                 # the peak (the predecessor's lambda)
      start_weight: 0.0
      ramp_steps: 2000             # 0 -> 30 over the first 2000 steps
      decay_start_step: 40000      # hold 30 until here (dWER settled) ...
      decay_steps: 20000           # ... then 30 -> final_weight over 20000 steps
      final_weight: 10.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

KEYS = ("weight", "start_weight", "ramp_steps", "start_step", "decay_start_step", "decay_steps", "final_weight")


@dataclass(frozen=True)
class WeightSchedule:
    """``weight`` from ``start_step + ramp_steps`` on; ``start_weight`` until ``start_step``; linear in between.

    ``WeightSchedule(30.0)`` is constant; ``WeightSchedule(30.0, start_weight=0.0, ramp_steps=2000)`` ramps from 0
    at step 0 to 30 at step 2000; ``start_step`` delays the ramp (e.g. until the reconstruction losses settle).
    With ``decay_start_step`` set, the weight then goes linearly from ``weight`` to ``final_weight`` over
    ``decay_steps`` (0: at once) and stays there.
    """

    weight: float
    start_weight: Optional[float] = None
    ramp_steps: int = 0
    start_step: int = 0
    decay_start_step: Optional[int] = None
    decay_steps: int = 0
    final_weight: Optional[float] = None

    def __post_init__(self):
        if self.ramp_steps < 0 or self.start_step < 0 or self.decay_steps < 0:
            raise ValueError(
                f"ramp_steps, start_step and decay_steps must be >= 0, got {self.ramp_steps}, "
                f"{self.start_step}, {self.decay_steps}"
            )
        if (self.decay_start_step is None) != (self.final_weight is None):
            raise ValueError("a decay needs both decay_start_step and final_weight")
        if self.decay_start_step is not None and self.decay_start_step < self.start_step + self.ramp_steps:
            raise ValueError(
                f"decay_start_step={self.decay_start_step} begins before the ramp ends "
                f"(start_step + ramp_steps = {self.start_step + self.ramp_steps})"
            )

    def __call__(self, step: int) -> float:
        start = self.weight if self.start_weight is None else self.start_weight
        if step < self.start_step:
            return float(start)
        if self.decay_start_step is not None and step >= self.decay_start_step:
            if self.decay_steps == 0 or step >= self.decay_start_step + self.decay_steps:
                return float(self.final_weight)
            done = (step - self.decay_start_step) / self.decay_steps
            return float(self.weight + (self.final_weight - self.weight) * done)
        if self.ramp_steps == 0 or step >= self.start_step + self.ramp_steps:
            return float(self.weight)
        return float(start + (self.weight - start) * (step - self.start_step) / self.ramp_steps)

    @classmethod
    def curriculum(
        cls, peak: float, ramp_steps: int, decay_start_step: int, decay_steps: int, final_weight: float
    ) -> "WeightSchedule":
        """The curriculum preset: 0 -> ``peak`` over ``ramp_steps``, hold, then down to ``final_weight``."""
        return cls(float(peak), 0.0, int(ramp_steps), 0, int(decay_start_step), int(decay_steps), float(final_weight))

    @classmethod
    def from_config(cls, config: Union[float, int, Mapping[str, Any]]) -> "WeightSchedule":
        """A number (constant) or a mapping with ``weight`` and optionally the other fields (:data:`KEYS`)."""
        if isinstance(config, (int, float)):
            return cls(float(config))
        unknown = set(config) - set(KEYS)
        if unknown or "weight" not in config:
            raise ValueError(f"a weight schedule needs 'weight' and may have {', '.join(KEYS[1:])}; got {dict(config)}")

        def optional(key: str, kind: type) -> Any:
            return None if config.get(key) is None else kind(config[key])

        return cls(
            float(config["weight"]),
            optional("start_weight", float),
            int(config.get("ramp_steps", 0)),
            int(config.get("start_step", 0)),
            optional("decay_start_step", int),
            int(config.get("decay_steps", 0)),
            optional("final_weight", float),
        )
