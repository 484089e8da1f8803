"""Loss weight schedules (the ASR loss's ramp, usable for any term): constant, or linear from one weight to another."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union


@dataclass(frozen=True)
class WeightSchedule:
    """``weight`` from ``start_step + ramp_steps`` on; ``start_weight`` until ``start_step``; linear in between.

    ``WeightSchedule(30.0)`` is constant; ``WeightSchedule(30.0, start_weight=0.0, ramp_steps=2000)`` ramps from 0
    at step 0 to 30 at step 2000; ``start_step`` delays the ramp (e.g. until the reconstruction losses settle).
    """

    weight: float
    start_weight: Optional[float] = None
    ramp_steps: int = 0
    start_step: int = 0

    def __post_init__(self):
        if self.ramp_steps < 0 or self.start_step < 0:
            raise ValueError(f"ramp_steps and start_step must be >= 0, got {self.ramp_steps}, {self.start_step}")

    def __call__(self, step: int) -> float:
        start = self.weight if self.start_weight is None else self.start_weight
        if step < self.start_step:
            return float(start)
        if self.ramp_steps == 0 or step >= self.start_step + self.ramp_steps:
            return float(self.weight)
        return float(start + (self.weight - start) * (step - self.start_step) / self.ramp_steps)

    @classmethod
    def from_config(cls, config: Union[float, int, Mapping[str, Any]]) -> "WeightSchedule":
        """A number (constant) or a mapping with ``weight`` and optionally ``start_weight``, ``ramp_steps``,
        ``start_step``."""
        if isinstance(config, (int, float)):
            return cls(float(config))
        unknown = set(config) - {"weight", "start_weight", "ramp_steps", "start_step"}
        if unknown or "weight" not in config:
            raise ValueError(f"a weight schedule needs 'weight' and may have start_weight, ramp_steps, start_step; "
                             f"got {dict(config)}")
        start = config.get("start_weight")
        return cls(float(config["weight"]), None if start is None else float(start), int(config.get("ramp_steps", 0)),
                   int(config.get("start_step", 0)))
