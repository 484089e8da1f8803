"""The names of post-hoc bottleneck presets (fcodec.models.posthoc): their grammar and what each name promises.

Torch-free, so that the recipe checks ``--posthoc-presets`` before anything heavy loads
(fcodec.bin.recipe_options runs at the start of every ``./run.sh``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from fcodec.utils.cli import UserError

__all__ = ["PosthocError", "Preset", "parse_preset", "check_advertised", "PRESETS", "GRAMMAR"]

# The presets the recipe runs (at or near the trained models' 275 and 137.5 bps); any name of the grammar works.
PRESETS = ("50hz_keep2_275bps", "50hz_6bit_300bps", "50hz_keep4_137.5bps", "50hz_3bit_150bps")
_NAME = re.compile(r"^(\d+(?:\.\d+)?)hz(?:_keep(\d+))?(?:_(\d+)bit)?_(\d+(?:\.\d+)?)bps$")
GRAMMAR = "<rate>hz[_keep<k>][_<b>bit]_<bitrate>bps, e.g. " + ", ".join(PRESETS)


class PosthocError(UserError, ValueError):
    """A preset that is unknown or does not apply to the model, or a calibration without speech (one line)."""


@dataclass(frozen=True)
class Preset:
    """A parsed preset name: the model frame rate it applies to, tokens kept (1 of ``keep``), bits kept."""

    name: str
    frame_rate: float  # of the model it applies to
    keep: int  # 1 token sent per group of `keep`
    bits: Optional[int]  # code bits sent per token; None: all
    advertised: float  # the bitrate in the name

    def bitrate(self, latent_dim: int) -> float:
        """Bits per second on a model with ``latent_dim`` code bits."""
        return self.frame_rate / self.keep * (self.bits or latent_dim)


def parse_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises
    ------
    PosthocError
        ``name`` does not follow the grammar, reduces nothing, or (a bit subset) advertises a bitrate it does
        not give.
    """
    match = _NAME.match(name)
    if not match:
        raise PosthocError(f"unknown post-hoc preset {name!r}: a preset is named {GRAMMAR}")
    rate, keep, bits = float(match.group(1)), int(match.group(2) or 1), match.group(3)
    preset = Preset(name, rate, keep, int(bits) if bits else None, float(match.group(4)))
    if keep < 1 or preset.bits == 0 or (keep == 1 and preset.bits is None):
        raise PosthocError(
            f"post-hoc preset {name!r} reduces nothing: give _keep<k> with k >= 2 and/or _<b>bit, b >= 1"
        )
    if preset.bits is not None:
        check_advertised(preset, preset.bits)
    else:  # all bits kept: the bitrate depends on the model (check_preset), but must be whole bits per token
        per_token = preset.advertised * keep / rate
        if not math.isclose(per_token, round(per_token)) or round(per_token) < 1:
            raise PosthocError(
                f"post-hoc preset {name!r} advertises {preset.advertised:g} bps, not a whole number of bits per "
                f"token at {rate:g} Hz / {keep} (with 11-bit tokens: {preset.bitrate(11):g} bps)"
            )
    return preset


def check_advertised(preset: Preset, latent_dim: int) -> None:
    actual = preset.bitrate(latent_dim)
    if not math.isclose(preset.advertised, actual):
        raise PosthocError(
            f"post-hoc preset {preset.name!r} advertises {preset.advertised:g} bps but gives {actual:g} bps "
            f"({preset.frame_rate:g} Hz / {preset.keep} x {preset.bits or latent_dim} bits)"
        )
