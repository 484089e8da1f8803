"""Adversarial and feature-matching losses against waveform discriminators (:mod:`fcodec.models.discriminators`).

Two sides share the functions here:

* the discriminator step (``fcodec.train.adversary``) minimises :func:`discriminator_loss` on real audio and on
  the detached reconstruction;
* the generator (the codec) gets two loss terms of ``losses:`` (built by :func:`fcodec.losses.combined.build_losses`
  when the config has a ``gan:`` section): ``adversarial`` (:func:`generator_loss`, the discriminators fooled) and
  ``feature_matching`` (:func:`feature_matching_loss`, L1 between the discriminators' layer activations on real
  and reconstructed audio). Both terms share one pass of the discriminators per step (the step's cache).

Loss kinds: ``hinge`` (HiFi-GAN v2 / MelGAN / Vocos / SpeechBrain's FocalCodec-Stream decoder recipe) and
``lsgan`` (least squares, HiFi-GAN v1). Every loss is the *mean* over sub-discriminators (and over layers for
feature matching), so its scale does not depend on how many periods or resolutions are configured.

What the discriminators see (:class:`GanInputs`): both signals at the decoder's rate (24 kHz), equal in length,
zero past each item's length. The real audio is the 16 kHz input resampled up, so it has nothing above 8 kHz;
with ``band_limit`` (the default) the reconstruction is resampled to the input rate and back too, so the
discriminators judge speech in the band both signals have and cannot win on the empty top band alone.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from fcodec.losses.masking import zero_beyond
from fcodec.losses.precision import float32_region
from fcodec.losses.resample import Resample
from fcodec.losses.spectral import ReconstructionTargetLoss, SpectrumCache

LOSS_KINDS = ("hinge", "lsgan")
GAN_TERMS = ("adversarial", "feature_matching")

Judgement = Tuple[Tensor, List[Tensor]]


def _check(kind: str) -> None:
    if kind not in LOSS_KINDS:
        raise ValueError(f"the adversarial loss must be one of {LOSS_KINDS}, not {kind!r}")


def discriminator_losses(
    real: Sequence[Tensor], fake: Sequence[Tensor], kind: str = "hinge"
) -> Tuple[Tensor, List[Tensor]]:
    """``(mean over sub-discriminators, per sub-discriminator)`` of the discriminator's loss on real and fake
    logits: hinge ``relu(1 - real) + relu(1 + fake)``, lsgan ``(1 - real)^2 + fake^2`` (each a mean)."""
    _check(kind)
    losses = []
    for r, f in zip(real, fake, strict=True):
        r, f = r.float(), f.float()
        if kind == "hinge":
            losses.append(torch.relu(1 - r).mean() + torch.relu(1 + f).mean())
        else:
            losses.append((1 - r).pow(2).mean() + f.pow(2).mean())
    return torch.stack(losses).mean(), losses


def generator_loss(fake: Sequence[Tensor], kind: str = "hinge") -> Tensor:
    """Mean over sub-discriminators of the generator's adversarial loss: hinge ``relu(1 - fake)`` (as Vocos and
    SpeechBrain's recipe), lsgan ``(1 - fake)^2``."""
    _check(kind)
    terms = [torch.relu(1 - f.float()).mean() if kind == "hinge" else (1 - f.float()).pow(2).mean() for f in fake]
    return torch.stack(terms).mean()


def feature_matching_loss(real: Sequence[Sequence[Tensor]], fake: Sequence[Sequence[Tensor]]) -> Tensor:
    """Mean over sub-discriminators of the mean over their layers of ``|real - fake|`` (real detached)."""
    per_disc = []
    for real_layers, fake_layers in zip(real, fake, strict=True):
        per_disc.append(
            torch.stack(
                [(r.detach().float() - f.float()).abs().mean() for r, f in zip(real_layers, fake_layers, strict=True)]
            ).mean()
        )
    return torch.stack(per_disc).mean()


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` without gradient inside the block: the generator's loss passes gradient through
    the discriminators to the waveform, never into their weights (they train in their own step)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class GanInputs(ReconstructionTargetLoss):
    """``(fake, real, lengths)`` at the decoder's rate for the discriminators (see the module docstring)."""

    def __init__(self, sample_rate: int, input_sample_rate: int = 16000, band_limit: bool = True):
        super().__init__(sample_rate, input_sample_rate)
        self.band_limit = bool(band_limit) and sample_rate > input_sample_rate
        if self.band_limit:
            self.down = Resample(sample_rate, input_sample_rate)
            self.up = Resample(input_sample_rate, sample_rate)

    def forward(
        self, recon: Tensor, audio: Tensor, audio_lens: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        fake, real, lengths = self.prepare(recon, audio, audio_lens)
        if self.band_limit:
            with float32_region(fake.device):
                fake = zero_beyond(self.up(self.down(fake))[:, : fake.shape[1]], lengths)
        return fake, real, lengths


class GeneratorGanLoss(nn.Module):
    """One generator-side term (``adversarial`` or ``feature_matching``) of ``losses:``.

    ``discriminators`` is held by reference, not registered as a submodule: its weights belong to the
    discriminator's optimizer and checkpoint entry, not the codec's. ``forward(recon, audio, audio_lens, cache)``
    runs the discriminators once per step and cache (the other term reuses the pass) with their weights frozen.
    """

    def __init__(self, term: str, discriminators: nn.Module, inputs: GanInputs, kind: str = "hinge"):
        super().__init__()
        if term not in GAN_TERMS:
            raise ValueError(f"term must be one of {GAN_TERMS}, not {term!r}")
        _check(kind)
        self.term, self.kind = term, kind
        self.inputs = inputs
        self._discriminators = (discriminators,)  # a tuple: not a submodule

    @property
    def discriminators(self) -> nn.Module:
        return self._discriminators[0]

    def judge(
        self, recon: Tensor, audio: Tensor, audio_lens: Optional[Tensor]
    ) -> Tuple[List[Judgement], List[Judgement]]:
        fake, real, _ = self.inputs(recon, audio, audio_lens)
        disc = self.discriminators
        with frozen(disc):
            with torch.no_grad():
                real_out = disc(real.to(fake.dtype))
            fake_out = disc(fake)
        return real_out, fake_out

    def forward(
        self, recon: Tensor, audio: Tensor, audio_lens: Optional[Tensor] = None, cache: Optional[SpectrumCache] = None
    ) -> Tensor:
        def make():
            return self.judge(recon, audio, audio_lens)

        real_out, fake_out = make() if cache is None else cache.get(("discriminators", id(self.discriminators)), make)
        if self.term == "adversarial":
            return generator_loss([logits for logits, _ in fake_out], self.kind)
        return feature_matching_loss([feats for _, feats in real_out], [feats for _, feats in fake_out])

    def extra_repr(self) -> str:
        return f"term={self.term}, kind={self.kind}"


def discriminator_scores(real: Sequence[Tensor], fake: Sequence[Tensor], names: Sequence[str]) -> Dict[str, float]:
    """Mean real and fake logit of each sub-discriminator (``disc_real/mpd2``, ``disc_fake/mpd2`` ...): how far
    apart it holds the two, the number to watch for a discriminator that wins (or gives up) too easily."""
    scores: Dict[str, float] = {}
    for name, r, f in zip(names, real, fake, strict=True):
        scores[f"disc_real/{name}"] = float(r.detach().float().mean())
        scores[f"disc_fake/{name}"] = float(f.detach().float().mean())
    return scores


def split_judgements(outputs: Sequence[Judgement], batch: int) -> Tuple[List[Tensor], List[Tensor]]:
    """Logits of one pass over ``cat([real, fake])`` split back into (real, fake) per sub-discriminator."""
    return [logits[:batch] for logits, _ in outputs], [logits[batch:] for logits, _ in outputs]


def gan_options(config: Mapping[str, Any]) -> Dict[str, Any]:
    """Nothing but the weight schedule belongs in a generator term's config: the loss kind and the
    discriminators are the ``gan:`` section's."""
    extra = set(config) if isinstance(config, Mapping) else set()
    if extra:
        raise ValueError(
            f"unexpected keys {sorted(extra)}: the loss kind and the discriminators are set in the "
            f"gan: section (gan.loss, gan.periods, ...)"
        )
    return {}
