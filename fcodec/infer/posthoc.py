"""Post-hoc bottlenecks in decoding: the bit choice calibrated on training cuts, saved beside the decode.

A bit-subset preset (``50hz_6bit_300bps``) needs to know which bits to send (fcodec.models.posthoc.choose_bits);
``prepare_posthoc`` computes that from the latents of up to ``max_cuts`` training cuts and writes it, with how it
was made, to ``posthoc.json`` in the model's decode folder. A rerun with the same preset, cuts and model reads it
back, so every test set of a model is decoded with the same choice and a decode can be reproduced from its folder.
A decode with a preset is a model of its own in the experiment layout: ``<model>+posthoc_<preset>``
(fcodec.layout.experiment.posthoc_model_name).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

from fcodec.infer.batched import duration_batches, num_tokens, padded_length
from fcodec.infer.decode_journal import model_fingerprint  # what a resumed decode must match, the same here
from fcodec.layout.experiment import POSTHOC_CALIBRATION
from fcodec.models.posthoc import (
    BitChoice,
    PosthocCodec,
    PosthocError,
    check_preset,
    choose_bits,
    parse_preset,
    with_posthoc,
)
from fcodec.utils.cli import UserError

__all__ = ["CALIBRATION_FILE", "calibration_latents", "prepare_posthoc"]

logger = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]
CALIBRATION_FILE = POSTHOC_CALIBRATION


@torch.inference_mode()
def calibration_latents(codec: Any, signals: Sequence[Tensor], keep: int = 1, max_duration: float = 100.0) -> Tensor:
    """Latents (T, D) of the tokens a keep-``keep`` preset sends (every ``keep``-th), over all ``signals``.

    Each signal is completed with zeros to whole chunks and batched as fcodec.infer.batched does, so its latents
    are those of decoding it alone; the frames past its own length are left out.
    """
    device = next(codec.parameters()).device
    lengths = [int(s.shape[-1]) for s in signals]
    out: List[Tensor] = []
    for group in duration_batches(codec, lengths, max_duration, 64):
        batch = torch.zeros(len(group), max(padded_length(codec, lengths[i]) for i in group), device=device)
        for row, index in enumerate(group):
            batch[row, : lengths[index]] = signals[index].to(device=device, dtype=batch.dtype).reshape(-1)
        lats = codec.sig_to_lats(batch)
        for row, index in enumerate(group):
            out.append(lats[row, : num_tokens(codec, lengths[index]) : keep].float().cpu())
    return torch.cat(out) if out else torch.zeros(0, codec.latent_dim)


def _read_calibration_cuts(cuts_path: PathLike, max_cuts: int, sample_rate: int) -> List[Tensor]:
    from fcodec.data.audio import AudioReadError, read_mono
    from fcodec.data.manifest_io import load_cuts

    try:
        cuts = list(load_cuts(cuts_path))
    except UserError:
        raise
    except Exception as exc:
        raise PosthocError(f"calibration cuts {cuts_path} cannot be read as a lhotse CutSet: {exc}") from exc
    if not cuts:
        raise PosthocError(f"calibration cuts {cuts_path} hold no cuts: nothing to calibrate the post-hoc bits on")
    # evenly spread over the manifest (it may be ordered by corpus or language), the same cuts on every rerun
    picked = [cuts[i * len(cuts) // min(max_cuts, len(cuts))] for i in range(min(max_cuts, len(cuts)))]
    signals = []
    for cut in picked:
        try:
            signals.append(torch.from_numpy(read_mono(cut, sample_rate)))
        except AudioReadError as exc:
            logger.warning("calibration cut %s left out: %s", cut.id, exc)
    if not signals:
        raise PosthocError(f"calibration cuts {cuts_path}: none of the {len(picked)} cuts tried could be read")
    return signals


def prepare_posthoc(
    codec: Any,
    preset: str,
    out_dir: PathLike,
    calibration_cuts: Optional[PathLike] = None,
    max_cuts: int = 200,
    model_source: str = "",
) -> PosthocCodec:
    """``codec`` behind ``preset``; a bit-subset preset's choice read from ``<out_dir>/posthoc.json`` when that
    was made for the same preset, cuts and model, else calibrated on ``calibration_cuts`` and written there.

    Parameters
    ----------
    codec : FocalCodec
        The model, on the device to run on.
    preset : str
        A preset name (fcodec.models.posthoc).
    out_dir : str or os.PathLike
        The model's decode folder (one choice for all its test sets).
    calibration_cuts : str or os.PathLike, optional
        Training cuts; required by bit-subset presets.
    max_cuts : int, default 200
        Cuts used at most, spread evenly over the manifest.
    model_source : str, default ""
        The model's folder or name (as given to fcodec.bin.decode): a saved choice made for other weights is made
        again.

    Raises
    ------
    PosthocError
        An unknown or inapplicable preset (see ``with_posthoc``), a bit-subset preset without calibration cuts,
        or calibration cuts that are empty or unreadable.
    """
    parsed = parse_preset(preset)
    if parsed.bits is None:
        return with_posthoc(codec, preset)
    check_preset(parsed, codec)  # before the (slow) calibration: a preset that does not apply fails at once
    if calibration_cuts is None:
        raise PosthocError(f"post-hoc preset {preset} keeps {parsed.bits} bits: give the training cuts to calibrate on")
    settings = {
        "preset": preset,
        "calibration_cuts": str(Path(calibration_cuts).absolute()),
        "max_cuts": max_cuts,
        "model_fingerprint": model_fingerprint(model_source) if model_source else "",
    }
    path = Path(out_dir) / CALIBRATION_FILE
    saved = _read_saved(path)
    if saved is not None and saved.get("settings") == settings:
        logger.info("post-hoc %s: the bit choice of %s", preset, path)
        return with_posthoc(codec, preset, BitChoice.from_dict(saved["choice"]))
    if saved is not None:
        logger.info("post-hoc %s: %s was made with other settings (%s); calibrating again", preset, path, saved)
    signals = _read_calibration_cuts(calibration_cuts, max_cuts, codec.sample_rate_input)
    lats = calibration_latents(codec, signals, parsed.keep)
    choice = choose_bits(lats, parsed.bits)
    choice.stats["cuts"] = len(signals)
    from fcodec.utils.io import atomic_write_json

    atomic_write_json(path, {"settings": settings, "choice": choice.to_dict()})
    logger.info(
        "post-hoc %s: keeping bits %s (0 = most significant), calibrated on %d cuts (%d frames) -> %s",
        preset,
        list(choice.kept),
        len(signals),
        lats.shape[0],
        path,
    )
    return with_posthoc(codec, preset, choice)


def _read_saved(path: Path) -> Optional[Dict[str, Any]]:
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        BitChoice.from_dict(saved["choice"])
        return saved
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("%s is not a readable post-hoc bit choice (%s); calibrating again", path, exc)
        return None
