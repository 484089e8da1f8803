"""What the generic trainer asks of a task: compute the loss of a batch, and optionally summarise and illustrate.

The trainer owns the loop (optimizer, validation, checkpoints, DDP, the NaN guard); an :class:`Objective` owns
what a batch means. ``compute`` receives the model to call, which is the DDP wrapper under torchrun and the
plain module otherwise, so the forward pass always goes through DDP's hooks when it must.

The codec's task (:class:`CodecObjective`): FocalCodec's training pass plus the config's weighted losses.

:class:`CodecTrainModule` holds the codec and the loss modules (which may own trainable parameters: the CTC
head), and its ``forward`` runs the whole loss computation. Under torchrun this one module is what DDP wraps, so
the CTC head's gradients are averaged across ranks like the codec's. Whisper (inside the ASR loss) is not a
registered submodule: it is frozen, never broadcast, and not in checkpoints.

Validation uses each term's final weight (the end of any ramp), so dev losses stay comparable across a run
and the best model is chosen by the objective the run is heading for.

Codebook statistics on the dev set: how many entries the tokens use, and the perplexity of their distribution.
A token histogram is additive, so it is summed over dev batches and ranks before the figures are taken.
Usage near 1 and perplexity near the codebook size mean the codebook is fully and evenly used; a collapse shows
as both falling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn

from fcodec.losses.combined import DECODED_TERMS


@dataclass
class StepResult:
    # Scalar to backpropagate (the weighted sum of the terms).
    loss: torch.Tensor
    # Unweighted loss terms, detached, for logging ("feature", "mel", ...).
    terms: Dict[str, torch.Tensor] = field(default_factory=dict)
    # Items in the batch: validation averages are weighted by it.
    num_items: int = 1
    # Additive statistics (summed over dev batches and ranks, then given to Objective.summarize).
    stats: Dict[str, torch.Tensor] = field(default_factory=dict)
    # The model's output (e.g. the codec's reconstruction), for a step that follows the model's (the
    # discriminators'); None when the task has none.
    output: Any = None


def move_to(batch: Any, device: torch.device) -> Any:
    """Tensors of a (nested) batch on ``device``; everything else untouched."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, list):
        return [move_to(v, device) for v in batch]
    if isinstance(batch, tuple):
        return tuple(move_to(v, device) for v in batch)
    return batch


class Objective:
    def compute(self, model: nn.Module, batch: Any, step: int, train: bool) -> StepResult:
        raise NotImplementedError

    def summarize(self, stats: Dict[str, torch.Tensor]) -> Dict[str, float]:
        """Dev metrics from the summed ``StepResult.stats`` (e.g. codebook usage and perplexity)."""
        return {}

    def scalars(self, step: int) -> Dict[str, float]:
        """Extra training scalars for TensorBoard at ``step`` (e.g. the scheduled ASR weight)."""
        return {}

    def audio_examples(self, model: nn.Module, batch: Any, max_items: int) -> List[Tuple[str, torch.Tensor, int]]:
        """(name, waveform, sample_rate) triples to listen to in TensorBoard, from a dev batch."""
        return []


def token_histogram(toks: torch.Tensor, tok_lens: Optional[torch.Tensor], codebook_size: int) -> torch.Tensor:
    """Counts (codebook_size,) of the valid tokens of a (B, L) batch, as float64 (sums stay exact)."""
    if tok_lens is not None:
        mask = torch.arange(toks.shape[1], device=toks.device)[None, :] < tok_lens[:, None]
        toks = toks[mask]
    return torch.bincount(toks.reshape(-1).long(), minlength=codebook_size).to(torch.float64)


def codebook_stats(histogram: torch.Tensor) -> Dict[str, float]:
    total = histogram.sum()
    if total <= 0:
        return {"codebook_usage": 0.0, "codebook_perplexity": 0.0}
    p = histogram / total
    nonzero = p[p > 0]
    entropy = -(nonzero * nonzero.log()).sum()
    return {"codebook_usage": float((histogram > 0).double().mean()), "codebook_perplexity": float(entropy.exp())}


FINAL_STEP = 2**62  # a step past any weight ramp


class CodecTrainModule(nn.Module):
    def __init__(self, codec: nn.Module, losses: nn.Module):
        super().__init__()
        self.codec = codec
        self.losses = losses
        # the training pass: the codec's own method, or its torch.compile'd version (fcodec.train.compile)
        self.codec_pass = codec.forward_train

    @property
    def needs_decoding(self) -> bool:
        return any(name in self.losses.terms for name in DECODED_TERMS)

    def forward(self, batch: Mapping[str, Any], step: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], Any]:
        out = self.codec_pass(batch["audio"], batch["audio_lens"], decode=self.needs_decoding)
        total, terms = self.losses(out, batch, step)
        return total, terms, out

    def train(self, mode: bool = True) -> "CodecTrainModule":
        """Fully frozen parts of the codec (the encoder, the decoder) stay in eval mode while training."""
        super().train(mode)
        if mode:
            for child in self.codec.children():
                params = list(child.parameters())
                if params and not any(p.requires_grad for p in params):
                    child.eval()
        return self


class CodecObjective(Objective):
    def __init__(self, module: CodecTrainModule):
        self.module = module  # unwrapped: for properties and audio examples (never for the training forward)
        self._logged_inputs = False

    def compute(self, model: nn.Module, batch: Dict[str, Any], step: int, train: bool) -> StepResult:
        total, terms, out = model(batch, step if train else FINAL_STEP)
        stats = {}
        if not train:
            stats["tokens"] = token_histogram(out.toks, out.tok_lens, self.module.codec.codebook_size)
        return StepResult(
            loss=total, terms=terms, num_items=int(batch["audio"].shape[0]), stats=stats, output=out if train else None
        )

    def summarize(self, stats: Dict[str, torch.Tensor]) -> Dict[str, float]:
        return codebook_stats(stats["tokens"]) if "tokens" in stats else {}

    def scalars(self, step: int) -> Dict[str, float]:
        return {f"weight_{name}": w for name, w in self.module.losses.weights(step).items()}

    def audio_examples(
        self, model: nn.Module, batch: Dict[str, Any], max_items: int
    ) -> List[Tuple[str, torch.Tensor, int]]:
        codec = self.module.codec
        n = min(max_items, batch["audio"].shape[0])
        out = codec.forward_train(batch["audio"][:n], batch["audio_lens"][:n], decode=True)
        examples = []
        for i in range(n):
            cut = batch["cut_id"][i] if "cut_id" in batch else str(i)
            examples.append((f"{cut}/reconstruction", out.sig[i, : int(out.sig_lens[i])], codec.sample_rate_output))
            if not self._logged_inputs:  # the input never changes: once per run is enough
                examples.append(
                    (f"{cut}/input", batch["audio"][i, : int(batch["audio_lens"][i])], codec.sample_rate_input)
                )
        self._logged_inputs = True
        return examples
