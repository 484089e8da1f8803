"""Feature MSE: the decompressor's output against the (frozen) encoder's features."""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from fcodec.losses.masking import full_lengths, lengths_to_mask, masked_mean


class FeatureMSELoss(nn.Module):
    """Mean squared error between ``qfeats`` (B, F', C) and ``feats`` (B, F, C), over valid frames.

    F' may differ from F by a few frames (the down/up-sampling layers round lengths): both are cut to the shorter
    one, as the predecessor did, and frames past ``feat_lens`` (padding) are left out. The encoder features are the target
    and are detached: the encoder is frozen in every training run.
    """

    def forward(self, qfeats: Tensor, feats: Tensor, feat_lens: Optional[Tensor] = None) -> Tensor:
        if (
            qfeats.dim() != 3
            or feats.dim() != 3
            or qfeats.shape[0] != feats.shape[0]
            or qfeats.shape[2] != feats.shape[2]
        ):
            raise ValueError(
                f"expected (B, F', C) and (B, F, C) features, got {tuple(qfeats.shape)} and {tuple(feats.shape)}"
            )
        frames = min(qfeats.shape[1], feats.shape[1])
        qfeats, feats = qfeats[:, :frames], feats[:, :frames].detach()
        lengths = full_lengths(qfeats, feat_lens)
        mask = lengths_to_mask(lengths, frames)
        return masked_mean((qfeats.float() - feats.float()) ** 2, mask)
