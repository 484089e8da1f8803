"""Reading codec weights: a ``.safetensors`` or (``weights_only=True``) ``.pt`` file, the legacy v0.0.1 names
remapped (separate q/k/v projections, ``Sequential`` focal layers, an extra output norm and quantizer mask), and a
strict load that lists every missing, unexpected or misshaped key. :mod:`fcodec.models.hub` finds the files and
re-exports these names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Mapping, Tuple

import torch
from torch import Tensor, nn


class CheckpointError(RuntimeError):
    """A checkpoint could not be found, read or matched to the model; the message says which and why."""


def load_state_dict_file(path: os.PathLike | str) -> Dict[str, Tensor]:
    """Read weights from ``.safetensors`` or (``weights_only=True``) ``.pt``; errors name the file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file; any other suffix is read with ``torch.load(weights_only=True)``.

    Returns
    -------
    dict of str to Tensor
        The state dict, on the CPU.

    Raises
    ------
    CheckpointError
        The file cannot be read, or is not a flat mapping of names to tensors.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state_dict = load_file(str(path), device="cpu")
        else:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"Could not read codec weights {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise CheckpointError(f"Codec weights {path} must be a flat mapping of parameter names to tensors")
    return dict(state_dict)


_LEGACY_QKV = re.compile(r"^(encoder\..*\.attention\.)([qkv])_proj\.(weight|bias)$")
_LEGACY_DROPPED = ("quantizer.mask", "encoder.encoder.norm.weight", "encoder.encoder.norm.bias")
_LEGACY_SEQUENTIAL = {
    # v0.0.1 focal layers were nn.Sequential: compressor (DownScale, FocalBlock), decompressor (FocalBlock, UpScale)
    "compressor": {"0": "downscale", "1": "focal_block"},
    "decompressor": {"0": "focal_block", "1": "upscale"},
}
_LEGACY_LAYER = re.compile(r"^(compressor|decompressor)\.layers\.(\d+)\.([01])\.(.*)$")


def is_legacy_state_dict(state_dict: Mapping[str, Tensor]) -> bool:
    """Upstream's test: any separate q/k/v projection means a v0.0.1 checkpoint."""
    return any(any(p in key for p in (".q_proj", ".k_proj", ".v_proj")) for key in state_dict)


def remap_legacy_state_dict(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Convert a v0.0.1 state dict to the v0.0.2 layout (by name; unchanged if it is not legacy).

    Parameters
    ----------
    state_dict : Mapping[str, Tensor]
        A state dict of either layout (not modified).

    Returns
    -------
    dict of str to Tensor
        Separate q/k/v projections concatenated into ``qkv_proj``, ``Sequential`` focal layer indices renamed,
        the unused legacy keys dropped.

    Raises
    ------
    CheckpointError
        A legacy attention layer lacks one of its q, k or v projections.
    """
    if not is_legacy_state_dict(state_dict) and not any(_LEGACY_LAYER.match(k) for k in state_dict):
        return dict(state_dict)
    out: Dict[str, Tensor] = {}
    qkv: Dict[Tuple[str, str], Dict[str, Tensor]] = {}
    for key, value in state_dict.items():
        if key in _LEGACY_DROPPED:
            continue
        match = _LEGACY_QKV.match(key)
        if match:
            prefix, which, kind = match.groups()
            qkv.setdefault((prefix, kind), {})[which] = value
            continue
        match = _LEGACY_LAYER.match(key)
        if match:
            module, index, position, rest = match.groups()
            key = f"{module}.layers.{index}.{_LEGACY_SEQUENTIAL[module][position]}.{rest}"
        out[key] = value
    for (prefix, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise CheckpointError(f"Legacy checkpoint has an incomplete q/k/v set under {prefix} ({sorted(parts)})")
        out[f"{prefix}qkv_proj.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def load_weights(model: nn.Module, state_dict: Mapping[str, Tensor], source: str = "checkpoint") -> None:
    """Strict load; on any mismatch raise ``CheckpointError`` listing missing, unexpected and misshaped keys.

    Parameters
    ----------
    model : nn.Module
        The model to load into (in place).
    state_dict : Mapping[str, Tensor]
        Weights, v0.0.1 or v0.0.2 layout (legacy keys are remapped first).
    source : str, default "checkpoint"
        What the message names as the origin (usually the file path).

    Raises
    ------
    CheckpointError
        Missing, unexpected or misshaped keys (up to 50 of each listed), or an incomplete legacy q/k/v set.
    """
    state_dict = remap_legacy_state_dict(state_dict)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshaped = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or misshaped:
        lines = [f"{source} does not match the model built from its config:"]
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", misshaped)):
            if items:
                lines.append(
                    f"  {title} ({len(items)}): " + ", ".join(items[:50]) + (" ..." if len(items) > 50 else "")
                )
        raise CheckpointError("\n".join(lines))
    model.load_state_dict(state_dict, strict=True)
