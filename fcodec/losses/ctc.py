"""CTC head loss (Stable Codec style): a small head on the compressor's pre-quantisation latents predicts the
sentencepiece BPE units of the transcript (stage 3's ``data/lang_bpe_<N>/bpe.model``) with CTC.

It puts linguistic pressure on the tokens without pulling the decoder's output off the manifold the frozen
vocoder was trained on. The head is only for training (it is not part of the exported codec); its parameters
are trainable and belong in an optimizer group of their own (``CTCHeadLoss.parameters()``).

The head sees its whole input (non-causal convolutions): it is dropped at inference, so this costs streaming
nothing, and it stays small so the latents have to carry the information. At 12.5 Hz a transcript can have
more BPE units than frames; ``upsample`` repeats frames before the head to make room, and utterances for which CTC
is still impossible contribute zero (``zero_infinity``) and are counted in ``last_infeasible``.
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.data.bpe import BLANK, load_bpe
from fcodec.losses.masking import full_lengths, lengths_to_mask

logger = logging.getLogger(__name__)


class CTCHead(nn.Module):
    """latents (B, L, D) -> log-probabilities (B, L * upsample, vocab): linear, ``num_layers`` conv blocks, linear."""

    def __init__(
        self,
        input_dim: int,
        vocab_size: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        kernel_size: int = 3,
        upsample: int = 1,
        dropout: float = 0.1,
    ):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (centred convolutions), got {kernel_size}")
        self.upsample = int(upsample)
        self.proj_in = nn.Linear(input_dim, hidden_dim)
        self.convs = nn.ModuleList(
            nn.Conv1d(hidden_dim, hidden_dim, kernel_size, padding=kernel_size // 2) for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.proj_out = nn.Linear(hidden_dim, vocab_size)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return lengths * self.upsample

    def forward(self, latents: Tensor, lengths: Tensor) -> Tensor:
        if self.upsample > 1:
            latents = latents.repeat_interleave(self.upsample, dim=1)
            lengths = self.output_lengths(lengths)
        mask = lengths_to_mask(lengths, latents.shape[1])[..., None]
        x = self.proj_in(latents) * mask  # padding must not leak into valid frames through the convolutions
        for conv, norm in zip(self.convs, self.norms):
            x = x + self.dropout(F.gelu(conv(norm(x).transpose(1, 2)).transpose(1, 2)))
            x = x * mask
        return self.proj_out(x).float().log_softmax(dim=-1)


class CTCHeadLoss(nn.Module):
    """CTC loss of a :class:`CTCHead` on the pre-quantisation latents against the transcript's BPE units.

    Args:
        bpe_model: path of the sentencepiece model (``data/lang_bpe_<N>/bpe.model``). Its ``<blk>`` piece is the
            blank when it has one (icefall's layout); otherwise the blank is an extra class after the vocabulary.
        input_dim: latent dimension D of ``lats`` (B, L, D).
        hidden_dim, num_layers, kernel_size, upsample, dropout: the head (see :class:`CTCHead`).

    ``forward(lats (B, L, D), lat_lens (B,) or None, texts: list[str]) -> scalar``: CTC loss averaged over
    utterances, each divided by its number of target units (``reduction="mean"`` of torch's CTC loss).
    """

    def __init__(
        self,
        bpe_model: Union[str, os.PathLike],
        input_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        kernel_size: int = 3,
        upsample: int = 1,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.bpe_model = os.fspath(bpe_model)
        self.sp = load_bpe(self.bpe_model)
        vocab = self.sp.get_piece_size()
        # icefall's convention (stage 3's BPE model): id 0 is "<blk>", reserved for the CTC blank; a model
        # without one gets an extra class
        blank = self.sp.piece_to_id(BLANK)
        has_blank = blank != self.sp.unk_id() or self.sp.id_to_piece(blank) == BLANK
        self.blank_id = blank if has_blank else vocab
        self.num_classes = vocab if has_blank else vocab + 1
        self.head = CTCHead(input_dim, self.num_classes, hidden_dim, num_layers, kernel_size, upsample, dropout)
        self.last_infeasible = 0

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        units = self.sp.encode(list(texts), out_type=int)
        return [[u for u in seq if u != self.blank_id] for seq in units]

    def forward(self, lats: Tensor, lat_lens: Optional[Tensor], texts: Sequence[str]) -> Tensor:
        if lats.dim() != 3 or len(texts) != lats.shape[0]:
            raise ValueError(f"expected (B, L, D) latents and B texts, got {tuple(lats.shape)} and {len(texts)}")
        lengths = full_lengths(lats, lat_lens)
        log_probs = self.head(lats, lengths)
        out_lens = self.head.output_lengths(lengths)
        units = self.encode(texts)
        target_lens = torch.tensor([len(u) for u in units], dtype=torch.long)
        targets = torch.tensor([u for seq in units for u in seq], dtype=torch.long)
        # CTC needs a frame per unit plus one between repeated units
        needed = torch.tensor([len(u) + sum(a == b for a, b in zip(u, u[1:])) for u in units])
        self.last_infeasible = int((needed > out_lens.cpu()).sum())
        if self.last_infeasible:
            logger.warning(
                "CTC head: %d of %d utterances have more BPE units than frames; they add zero loss",
                self.last_infeasible,
                len(units),
            )
        return F.ctc_loss(
            log_probs.transpose(0, 1),
            targets.to(lats.device),
            out_lens,
            target_lens.to(lats.device),
            blank=self.blank_id,
            reduction="mean",
            zero_infinity=True,
        )

    @torch.no_grad()
    def greedy_decode(self, lats: Tensor, lat_lens: Optional[Tensor] = None) -> list[str]:
        """Best-path transcripts (a diagnostic: what the latents say)."""
        lengths = full_lengths(lats, lat_lens)
        best = self.head(lats, lengths).argmax(dim=-1).cpu()
        out = []
        for seq, n in zip(best, self.head.output_lengths(lengths).cpu()):
            seq = torch.unique_consecutive(seq[: int(n)]).tolist()
            out.append(self.sp.decode([u for u in seq if u != self.blank_id]))
        return out
