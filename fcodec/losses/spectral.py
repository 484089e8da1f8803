"""What the mel and STFT losses share: the target at the reconstruction's rate, lengths, masks, magnitudes."""

from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, Optional, Tuple

import torch
from torch import Tensor, nn

from fcodec.losses.masking import full_lengths, lengths_to_mask, zero_beyond
from fcodec.losses.precision import float32_region
from fcodec.losses.resample import Resample


def stft_magnitude(x: Tensor, n_fft: int, hop_length: int, win_length: int, window: Tensor) -> Tensor:
    """|STFT| (B, n_fft // 2 + 1, frames) with centred frames (frame t is centred on sample t * hop), float32."""
    # Zero (not reflect) padding at the ends: a clip then gives the same frames whether it ends the tensor or is
    # followed by batch padding, so its loss does not depend on the batch it is in.
    with float32_region(x.device):
        spec = torch.stft(
            x.float(),
            n_fft,
            hop_length,
            win_length,
            window=window.float(),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec.abs()


def valid_frame_mask(lengths: Tensor, hop_length: int, frames: int) -> Tensor:
    """(B, frames): frames whose centre lies inside the item (``t * hop < length``)."""
    return lengths_to_mask(torch.div(lengths + hop_length - 1, hop_length, rounding_mode="floor"), frames)


class SpectrumCache:
    """One step's prepared signals and magnitude spectra, shared by the losses that need the same ones: the mel and
    multi-resolution STFT losses use the same three resolutions by default, and their STFTs (forward and backward)
    were about 40 % of the two losses' time. Make a new one for every step (:class:`fcodec.losses.CodecLosses` does).
    """

    def __init__(self) -> None:
        self._values: Dict[Hashable, Any] = {}

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key not in self._values:
            self._values[key] = make()
        return self._values[key]


class ReconstructionTargetLoss(nn.Module):
    """Base for losses between the reconstruction and the input audio at the decoder's output rate.

    The 16 kHz input is resampled to ``sample_rate`` (a fixed polyphase filter, see :mod:`fcodec.losses.resample`),
    both signals are cut to the shorter of the two (the decoder may round the length by a few samples), and
    samples past each item's valid length are zeroed in both, so padding contributes nothing.
    """

    def __init__(self, sample_rate: int, input_sample_rate: int = 16000):
        super().__init__()
        self.sample_rate, self.input_sample_rate = int(sample_rate), int(input_sample_rate)
        self.resample = Resample(input_sample_rate, sample_rate)

    def prepare(self, recon: Tensor, audio: Tensor, audio_lens: Optional[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Return ``(recon, target, lengths)`` at ``sample_rate``, equal in length, zero past ``lengths``."""
        if recon.dim() == 3 and recon.shape[1] == 1:
            recon = recon.squeeze(1)
        if recon.dim() != 2 or audio.dim() != 2 or recon.shape[0] != audio.shape[0]:
            raise ValueError(
                f"expected (B, N_out) reconstruction and (B, N) input, got {tuple(recon.shape)} "
                f"and {tuple(audio.shape)}"
            )
        lengths = self.resample.lengths(full_lengths(audio, audio_lens))
        with torch.no_grad(), float32_region(audio.device):  # the target never trains
            target = self.resample(audio.float())
        samples = min(recon.shape[1], target.shape[1])
        recon, target = recon[:, :samples].float(), target[:, :samples]
        lengths = lengths.clamp(max=samples)
        return zero_beyond(recon, lengths), zero_beyond(target, lengths), lengths

    def prepare_stacked(
        self, recon: Tensor, audio: Tensor, audio_lens: Optional[Tensor], cache: Optional[SpectrumCache]
    ) -> Tuple[Tensor, Tensor]:
        """``(recon and target stacked (2B, N), lengths)``: one STFT call per resolution serves both signals."""

        def make() -> Tuple[Tensor, Tensor]:
            recon_, target, lengths = self.prepare(recon, audio, audio_lens)
            return torch.cat([recon_, target]), lengths

        return make() if cache is None else cache.get(("prepared", self.sample_rate, self.input_sample_rate), make)

    def magnitude(
        self, stacked: Tensor, n_fft: int, hop_length: int, window: Tensor, cache: Optional[SpectrumCache]
    ) -> Tensor:
        """:func:`stft_magnitude` of the stacked signals with a Hann ``window``, once per cache and resolution."""

        def make() -> Tensor:
            return stft_magnitude(stacked, n_fft, hop_length, window.numel(), window)

        key = ("magnitude", self.sample_rate, n_fft, hop_length, window.numel())
        return make() if cache is None else cache.get(key, make)
