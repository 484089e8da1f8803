"""Build a training run's loss terms from its config, and combine them with their (scheduled) weights.

The ``losses:`` section of a training config names the terms; each term holds its weight (a number, or a ramp) next
to its module's arguments. A term that is absent or whose weight is 0 throughout is not built::

    losses:
      feature: {weight: 1.0}                        # FeatureMSELoss
      mel: {weight: 5.0}                            # MultiScaleMelLoss (window_lengths, n_mels, hop_lengths, ...)
      stft: {weight: 2.0}                           # MultiResolutionSTFTLoss (fft_sizes, hop_sizes, win_lengths)
      asr:                                          # WhisperASRLoss
        weight: 30.0
        start_weight: 0.0                           # optional ramp: start_weight -> weight over ramp_steps,
        ramp_steps: 2000                            #   beginning at start_step (WeightSchedule)
        whisper: small                              # a published name or a checkpoint path
        targets: transcript                         # or pseudo (cached in <exp_dir>/pseudo_labels.jsonl)
        sub_batch_size: 8
        encoder_window: 30.0                        # Whisper's own 30 s windows (the default)
      ctc:                                          # CTCHeadLoss: has trainable parameters
        weight: 1.0
        bpe_model: data/lang_bpe_500/bpe.model
        hidden_dim: 256
      adversarial: {weight: 1.0}                    # GeneratorGanLoss: needs the config's gan: section (its
      feature_matching: {weight: 6.0}               #   discriminators and loss kind); see fcodec.losses.adversarial

The two GAN terms are 0 before ``gan.start_step`` (their ``start_step`` and ``ramp_steps`` count from there). They
are reported on the dev set but left out of the dev loss that picks the best model and drives the LR plateau and
early stopping: they measure the discriminators as much as the codec, and the discriminators keep changing.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import Tensor, nn

from fcodec.losses.adversarial import GAN_TERMS, GanInputs, GeneratorGanLoss, gan_options
from fcodec.losses.asr import WhisperASRLoss
from fcodec.losses.ctc import CTCHeadLoss
from fcodec.losses.feature import FeatureMSELoss
from fcodec.losses.mel import MultiScaleMelLoss
from fcodec.losses.schedule import KEYS as SCHEDULE_KEYS
from fcodec.losses.schedule import WeightSchedule
from fcodec.losses.spectral import SpectrumCache
from fcodec.losses.stft import MultiResolutionSTFTLoss

TERMS = ("feature", "mel", "stft", "asr", "ctc") + GAN_TERMS
DECODED_TERMS = ("mel", "stft", "asr") + GAN_TERMS  # the terms that need the reconstruction


class CodecLosses(nn.Module):
    """The weighted sum of a training run's loss terms.

    ``forward(out, batch, step)`` takes the model's ``CodecOutput`` (``feats``, ``qfeats``, ``feat_lens``, ``lats``,
    ``tok_lens``, ``sig``, ``sig_lens``) and the data loader's batch dict (``audio``, ``audio_lens``, ``text``,
    ``language``, ``cut_id``) and returns ``(total, terms)``: the weighted total and each term's unweighted value
    (detached, for logging). A term whose scheduled weight is 0 at ``step`` is not computed (the ASR loss is
    expensive) and is absent from ``terms``.
    """

    def __init__(self, terms: Mapping[str, nn.Module], schedules: Mapping[str, WeightSchedule]):
        super().__init__()
        unknown = set(terms) - set(TERMS)
        if unknown or set(terms) != set(schedules):
            raise ValueError(f"terms must be among {TERMS} and each needs a schedule; got {sorted(terms)}")
        self.terms = nn.ModuleDict(terms)
        self.schedules = dict(schedules)

    def weights(self, step: int) -> dict[str, float]:
        return {name: self.schedules[name](step) for name in self.terms}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters of the losses themselves (the CTC head); they need a place in the optimizer."""
        return [p for p in self.parameters() if p.requires_grad]

    def compute(self, name: str, out: Any, batch: Mapping[str, Any], cache: Optional[SpectrumCache] = None) -> Tensor:
        module = self.terms[name]
        if name == "feature":
            return module(out.qfeats, out.feats, out.feat_lens)
        if name in ("mel", "stft") + GAN_TERMS:
            return module(out.sig, batch["audio"], batch["audio_lens"], cache=cache)
        if name == "asr":
            return module(
                out.sig,
                out.sig_lens,
                batch["language"],
                texts=batch["text"],
                cut_ids=batch.get("cut_id"),
                audio=batch["audio"],
                audio_lens=batch["audio_lens"],
            )
        if name == "ctc":
            return module(out.lats, out.tok_lens, batch["text"])
        raise KeyError(name)

    def forward(self, out: Any, batch: Mapping[str, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        total: Optional[Tensor] = None
        values: dict[str, Tensor] = {}
        spectra = SpectrumCache()  # the mel and STFT losses share the step's spectra
        for name, weight in self.weights(step).items():
            if weight == 0:
                continue
            if name in DECODED_TERMS and out.sig is None:
                raise ValueError(f"the {name} loss needs the reconstruction: run the model with decode=True")
            value = self.compute(name, out, batch, spectra)
            values[name] = value.detach()
            if name in GAN_TERMS and not self.training:
                continue  # reported, not part of the dev loss (see the module docstring)
            total = weight * value if total is None else total + weight * value
        if total is None:
            raise ValueError(f"every loss weight is 0 at step {step}: nothing to train")
        return total, values


def _split(name: str, config: Union[float, int, Mapping[str, Any]]) -> tuple[WeightSchedule, dict[str, Any]]:
    if isinstance(config, (int, float)):
        return WeightSchedule(float(config)), {}
    if not isinstance(config, Mapping) or "weight" not in config:
        raise ValueError(f"losses.{name} must be a weight or a mapping with a 'weight', got {config!r}")
    schedule = WeightSchedule.from_config({k: config[k] for k in SCHEDULE_KEYS if k in config})
    return schedule, {k: v for k, v in config.items() if k not in SCHEDULE_KEYS}


@dataclass
class GanSetup:
    """What the generator's GAN terms need from the config's ``gan:`` section."""

    discriminators: nn.Module
    kind: str = "hinge"  # hinge or lsgan
    band_limit: bool = True  # see fcodec.losses.adversarial
    start_step: int = 0  # the GAN terms are 0 before it; their own start_step and ramp_steps count from it


def _gan_schedule(name: str, schedule: WeightSchedule, start: int) -> WeightSchedule:
    """``schedule`` moved to begin at ``gan.start_step`` (0 before it: the discriminators have not trained)."""
    if schedule.start_weight not in (None, 0.0):
        raise ValueError(f"losses.{name}: start_weight must be 0 (the term is 0 before gan.start_step)")
    shift = int(start)
    return dataclasses.replace(
        schedule,
        start_weight=0.0,
        start_step=schedule.start_step + shift,
        decay_start_step=None if schedule.decay_start_step is None else schedule.decay_start_step + shift,
    )


def build_losses(
    config: Mapping[str, Any],
    *,
    sample_rate: int,
    input_sample_rate: int = 16000,
    latent_dim: Optional[int] = None,
    exp_dir: Optional[Union[str, os.PathLike]] = None,
    rank: int = 0,
    device: Union[str, torch.device] = "cpu",
    gan: Optional[GanSetup] = None,
) -> CodecLosses:
    """Build :class:`CodecLosses` from a ``losses:`` config section.

    Args:
        sample_rate: the decoder's output rate (reconstructions); ``input_sample_rate``: the data's (16 kHz).
        latent_dim: D of the model's ``lats`` (needed by the CTC head).
        exp_dir: the training run's folder (default home of the ASR pseudo-label cache).
        rank: DDP rank (pseudo-label files are per rank).
        gan: the discriminators and loss kind of the ``adversarial`` and ``feature_matching`` terms (required
            when either is configured).
    """
    unknown = set(config) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown loss terms {sorted(unknown)} in losses (known: {TERMS})")
    terms: dict[str, nn.Module] = {}
    schedules: dict[str, WeightSchedule] = {}
    for name in TERMS:
        if name not in config or config[name] is None:
            continue
        schedule, kwargs = _split(name, config[name])
        if schedule.weight == 0 and (schedule.start_weight or 0) == 0:
            continue
        if name in GAN_TERMS:
            if gan is None:
                raise ValueError(f"losses.{name} needs discriminators: add a gan: section to the training config")
            schedule = _gan_schedule(name, schedule, gan.start_step)
        try:
            if name in GAN_TERMS:
                gan_options(kwargs)
                inputs = GanInputs(sample_rate, input_sample_rate, band_limit=gan.band_limit)
                module = GeneratorGanLoss(name, gan.discriminators, inputs, gan.kind)
            elif name == "feature":
                module = FeatureMSELoss(**kwargs)
            elif name == "mel":
                module = MultiScaleMelLoss(sample_rate, input_sample_rate, **kwargs)
            elif name == "stft":
                module = MultiResolutionSTFTLoss(sample_rate, input_sample_rate, **kwargs)
            elif name == "asr":
                kwargs = dict(kwargs)
                whisper = kwargs.pop("whisper")
                if kwargs.get("targets") == "pseudo" and kwargs.get("pseudo_label_path") is None:
                    if exp_dir is None:
                        raise ValueError("losses.asr.targets=pseudo needs pseudo_label_path or an exp_dir")
                    kwargs["pseudo_label_path"] = Path(exp_dir) / "pseudo_labels.jsonl"
                module = WhisperASRLoss(whisper, sample_rate, rank=rank, **kwargs)
            else:
                if latent_dim is None:
                    raise ValueError("the CTC head needs latent_dim (the model's latent dimension)")
                kwargs = dict(kwargs)
                module = CTCHeadLoss(kwargs.pop("bpe_model"), latent_dim, **kwargs)
        except TypeError as exc:  # an unknown or missing argument in the config
            raise ValueError(f"losses.{name}: {exc}") from exc
        except KeyError as exc:
            raise ValueError(f"losses.{name} needs {exc}") from exc
        terms[name], schedules[name] = module.to(device), schedule
    return CodecLosses(terms, schedules)
