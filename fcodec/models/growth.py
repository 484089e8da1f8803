"""Progressive compression (docs/architecture.md, Growth): halve the token rate by adding one 2x layer pair.

``grow(model)`` appends a ``FocalDownScale(c_last, c_new, 2)`` to the compressor (after its last layer, before
``out_proj``) and inserts a ``FocalUpScale(d_new, d_0, 2)`` as decompressor layer 0, shifting the old layers one
index up. Every inherited tensor is copied unchanged (``compressor.out_proj`` and ``decompressor.in_proj`` keep
their shapes because ``c_new = c_last`` and ``d_new = d_0`` by default). The result is expressible by the
upstream classes, so ``save_pretrained`` output loads in upstream v0.0.2.

50 Hz -> 25 Hz -> 12.5 Hz; bitrate = frame rate x log2(codebook size) (550 -> 275 -> 137.5 bps for 2048).
"""

from __future__ import annotations

import copy
import re
from typing import List, Optional, Tuple

import torch

from fcodec.models.codec import FocalCodec

__all__ = ["grow", "ADAPTED_PARAM_PREFIXES"]

# Inherited tensors that see a new input distribution after growth and must be trained (docs/architecture.md,
# Growth); a trainer may give them the new layers' learning rate.
ADAPTED_PARAM_PREFIXES = ("compressor.out_proj.", "decompressor.in_proj.")

_DECOMPRESSOR_LAYER = re.compile(r"^decompressor\.layers\.(\d+)\.(.*)$")


def _renamed(key: str) -> str:
    """Where an inherited tensor lives in the grown model: decompressor layers shift up by one."""
    match = _DECOMPRESSOR_LAYER.match(key)
    if match:
        return f"decompressor.layers.{int(match.group(1)) + 1}.{match.group(2)}"
    return key


@torch.no_grad()
def _identity_warm_start(grown: FocalCodec, new_compressor_layer: int) -> None:
    """Our optional start (not upstream's): new focal blocks are identity residuals, the new DownScale averages
    frame pairs and the new UpScale repeats frames (Snake still applies, so the model is not exactly the old)."""
    down_layer = grown.compressor.layers[new_compressor_layer]
    up_layer = grown.decompressor.layers[0]
    for block in (down_layer.focal_block, up_layer.focal_block):
        for linear in (block.modulation.out_proj, block.feed_forward.out_proj):
            linear.weight.zero_()
            linear.bias.zero_()
    conv = down_layer.downscale.downscale  # (C_out, C_in, 2)
    if conv.weight.shape[0] != conv.weight.shape[1]:
        raise ValueError("identity warm start needs the new compressor layer to keep its width")
    eye = torch.eye(conv.weight.shape[0], dtype=conv.weight.dtype, device=conv.weight.device)
    conv.weight.copy_(0.5 * eye[..., None].expand_as(conv.weight))
    conv.bias.zero_()
    tconv = up_layer.upscale.upscale  # (C_in, C_out, 2)
    if tconv.weight.shape[0] != tconv.weight.shape[1]:
        raise ValueError("identity warm start needs the new decompressor layer to keep its width")
    eye = torch.eye(tconv.weight.shape[0], dtype=tconv.weight.dtype, device=tconv.weight.device)
    tconv.weight.copy_(eye[..., None].expand_as(tconv.weight))
    tconv.bias.zero_()


def grow(
    model: FocalCodec,
    *,
    identity_init: bool = False,
    compressor_dim: Optional[int] = None,
    decompressor_dim: Optional[int] = None,
    seed: Optional[int] = None,
) -> Tuple[FocalCodec, List[str]]:
    """Return ``(grown_model, new_param_names)``: the model at half the token rate and its fresh parameters.

    New layers get PyTorch's default initialisation (as upstream; ``seed`` makes it reproducible) or, with
    ``identity_init``, a warm start close to the identity (docs/architecture.md, Growth). The grown model is on
    the device and dtype of ``model``.

    Parameters
    ----------
    model : FocalCodec
        The model to grow (not modified). Its config must be expressible in the upstream schema.
    identity_init : bool, default False
        Start the new layers near identity: zeroed output projections of the new focal blocks, a DownScale that
        averages frame pairs and an UpScale that repeats frames (Snake still applies, so the grown model is close
        to, not equal to, the old one). The new layers must keep their widths (the default dimensions).
    compressor_dim : int, optional
        Width of the new compressor layer; default the last compressor width (``compressor.out_proj`` keeps its
        shape and weights).
    decompressor_dim : int, optional
        Width of the new decompressor layer; default the first decompressor width (``decompressor.in_proj``
        keeps its shape and weights).
    seed : int, optional
        Seed of the new layers' default initialisation, drawn in a forked RNG (the global RNG is untouched).

    Returns
    -------
    grown : FocalCodec
        The model with a ``[2]`` appended to the compressor's ``downscale_factors`` and prepended to the
        decompressor's ``upscale_factors`` (half the token rate), in ``model``'s train/eval mode, ``model_id``
        None.
    new_param_names : list of str
        Names of the parameters not copied from ``model`` (the new layers, and ``ADAPTED_PARAM_PREFIXES``
        projections when a width change re-initialised them).

    Raises
    ------
    ValueError
        ``identity_init`` with a new layer that changes its width.
    RuntimeError
        An inherited tensor would be lost or change shape (an internal consistency check).
    """
    config = copy.deepcopy(model.config)
    comp, decomp = model.compressor, model.decompressor
    c_new = compressor_dim or comp.hidden_dims[-1]
    d_new = decompressor_dim or decomp.hidden_dims[0]
    config["compressor_config"]["hidden_dims"] = list(comp.hidden_dims) + [c_new]
    config["compressor_config"]["downscale_factors"] = list(comp.downscale_factors) + [2]
    config["decompressor_config"]["hidden_dims"] = [d_new] + list(decomp.hidden_dims)
    config["decompressor_config"]["upscale_factors"] = [2] + list(decomp.upscale_factors)

    reference = next(iter(model.parameters()))
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            grown = FocalCodec(**config)
    else:
        grown = FocalCodec(**config)
    grown = grown.to(device=reference.device, dtype=reference.dtype)

    target = grown.state_dict()
    inherited = {}
    for key, value in model.state_dict().items():
        new_key = _renamed(key)
        if new_key not in target:
            raise RuntimeError(f"growth lost {key} (would be {new_key})")
        if target[new_key].shape != value.shape:
            if key.startswith(ADAPTED_PARAM_PREFIXES):
                continue  # a width change re-initialises the projection: it becomes new
            raise RuntimeError(
                f"growth changed the shape of {key}: {tuple(value.shape)} -> {tuple(target[new_key].shape)}"
            )
        inherited[new_key] = value.detach().clone()
    grown.load_state_dict({**target, **inherited}, strict=True)
    if identity_init:
        _identity_warm_start(grown, len(comp.hidden_dims))
    grown.model_id = None
    grown.train(model.training)
    new_names = [name for name, _ in grown.named_parameters() if name not in inherited]
    return grown, new_names
