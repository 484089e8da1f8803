"""Whisper ASR loss: teacher-forced cross-entropy of a frozen Whisper listening to the reconstruction.

The reconstruction (decoder rate, e.g. 24 kHz) is resampled to 16 kHz with the differentiable polyphase filter,
turned into Whisper's log-mel (per-clip floor, :mod:`fcodec.losses.whisper_frontend`), encoded, and the decoder is
teacher-forced on ``<|startoftranscript|><|lang|><|transcribe|><|notimestamps|> text <|endoftext|>`` with each
cut's language. The loss is the mean cross-entropy over all target tokens of the batch (text and
<|endoftext|>), so long utterances weigh more, as in the predecessor.

Targets: the corpus transcript (``targets="transcript"``, the default, formatted as Whisper writes, see
:mod:`fcodec.losses.whisper_targets`) or Whisper's greedy transcript of the clean input (``targets="pseudo"``,
computed on first sight of a cut id and cached on disk, :mod:`fcodec.losses.pseudo_labels`).

Memory: Whisper runs in sub-batches of ``sub_batch_size`` clips. When a gradient is wanted, each sub-batch's
backward pass through Whisper runs right away inside ``forward`` and only d(loss)/d(16 kHz audio) is kept, so the
activations of one sub-batch at a time are alive, whatever the batch size, and nothing is recomputed. The
returned scalar carries that gradient into the rest of the graph (resampler, codec) when the caller runs
``backward()``. Whisper's parameters are frozen (``requires_grad`` False, eval mode) and not registered as
submodules: they are in no optimizer, state_dict or checkpoint, while ``.to()`` still moves them.

Encoder window: ``encoder_window=30.0`` pads every clip to 30 s, as the predecessor and Whisper itself do (the default).
A shorter float pads or trims to that many seconds; ``"batch"`` pads each sub-batch to its longest clip rounded up
to ``window_step`` seconds. See tools/benchmarks/bench_asr_loss.py for what that saves and what it changes.
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from whisper.audio import mel_filters

from fcodec.losses.masking import full_lengths, zero_beyond
from fcodec.losses.precision import float32_region
from fcodec.losses.pseudo_labels import PseudoLabelCache, transcribe
from fcodec.losses.resample import Resample, resampled_length
from fcodec.losses.whisper_frontend import HOP_LENGTH, N_FRAMES, SAMPLE_RATE, encode, log_mel, window_frames
from fcodec.losses.whisper_targets import IGNORE_INDEX, WhisperTargets

logger = logging.getLogger(__name__)

TARGET_KINDS = ("transcript", "pseudo")


class _InjectGradient(torch.autograd.Function):
    """Returns ``value``; its backward hands ``grad_output * gradient`` to ``x`` (computed ahead of time)."""

    @staticmethod
    def forward(ctx, x: Tensor, value: Tensor, gradient: Tensor) -> Tensor:
        ctx.save_for_backward(gradient)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        (gradient,) = ctx.saved_tensors
        return grad_output * gradient, None, None


class WhisperASRLoss(nn.Module):
    """Cross-entropy of a frozen Whisper on the reconstruction; see the module docstring.

    Args:
        whisper: a published name (``"small"``), a checkpoint path in openai-whisper's format, or a loaded
            ``whisper.model.Whisper``.
        sample_rate: rate of the reconstructions passed to ``forward`` (the decoder's output rate).
        targets: ``"transcript"`` (corpus text, default) or ``"pseudo"`` (Whisper's transcript of the clean input).
        pseudo_label_path: the JSON-lines cache for ``targets="pseudo"`` (e.g. ``exp/train_25hz/pseudo_labels.jsonl``).
        rank: DDP rank (each rank appends to its own cache file).
        sub_batch_size: clips per Whisper pass (bounds memory).
        encoder_window: seconds of audio per Whisper window (30.0 = Whisper's own), or ``"batch"``.
        window_step: rounding of ``"batch"`` windows, in seconds.
        format_text: format transcripts as Whisper writes them (:func:`format_target`).
        pseudo_label_max_tokens: longest pseudo-label Whisper may write (default: half its text context, as
            Whisper's own decoding).
        download_root: where published Whisper names are cached.
    """

    def __init__(
        self,
        whisper: Union[str, os.PathLike, nn.Module],
        sample_rate: int = 24000,
        *,
        targets: str = "transcript",
        pseudo_label_path: Optional[Union[str, os.PathLike]] = None,
        rank: int = 0,
        sub_batch_size: int = 8,
        encoder_window: Union[float, str] = 30.0,
        window_step: float = 1.0,
        format_text: bool = True,
        pseudo_label_max_tokens: Optional[int] = None,
        download_root: Optional[str] = None,
    ):
        super().__init__()
        if targets not in TARGET_KINDS:
            raise ValueError(f"targets must be one of {TARGET_KINDS}, got {targets!r}")
        if targets == "pseudo" and pseudo_label_path is None:
            raise ValueError("targets='pseudo' needs pseudo_label_path (where the labels are cached)")
        if not (encoder_window == "batch" or (isinstance(encoder_window, (int, float)) and 0 < encoder_window <= 30)):
            raise ValueError(f"encoder_window must be seconds in (0, 30] or 'batch', got {encoder_window!r}")
        if isinstance(whisper, nn.Module):
            model, name = whisper, getattr(whisper, "name", type(whisper).__name__)
        else:
            from fcodec.utils.whisper import load_whisper

            model, name = load_whisper(whisper, download_root=download_root), os.fspath(whisper)
        model.eval().requires_grad_(False)
        object.__setattr__(self, "whisper", model)  # deliberately not a submodule (see the module docstring)
        self.whisper_name = os.path.basename(name)
        self.sample_rate = int(sample_rate)
        self.targets = targets
        self.sub_batch_size = int(sub_batch_size)
        self.encoder_window = encoder_window
        self.window_step = float(window_step)
        self.format_text = format_text
        self.pseudo_label_max_tokens = pseudo_label_max_tokens
        self.tokens = WhisperTargets.for_model(model)
        self.to_16k = Resample(sample_rate, SAMPLE_RATE)
        self.cache = PseudoLabelCache(pseudo_label_path, self.whisper_name, rank) if targets == "pseudo" else None
        self._whisper_ce = self._whisper_ce_eager

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.whisper._apply(fn)
        return self

    def train(self, mode: bool = True) -> "WhisperASRLoss":
        super().train(mode)
        self.whisper.eval()  # Whisper is a fixed judge in every mode
        return self

    def extra_repr(self) -> str:
        return (
            f"whisper={self.whisper_name}, sample_rate={self.sample_rate}, targets={self.targets}, "
            f"sub_batch_size={self.sub_batch_size}, encoder_window={self.encoder_window}"
        )

    # ---- targets -------------------------------------------------------------------------------------------
    def target_tokens(
        self,
        languages: Sequence[str],
        texts: Optional[Sequence[str]] = None,
        cut_ids: Optional[Sequence[str]] = None,
        audio: Optional[Tensor] = None,
        audio_lens: Optional[Tensor] = None,
    ) -> list[list[int]]:
        """Text tokens (no special tokens) per clip: formatted transcripts, or cached/computed pseudo-labels."""
        if self.targets == "transcript":
            if texts is None or len(texts) != len(languages):
                raise ValueError("targets='transcript' needs one text per clip")
            return [self.tokens.encode(text, lang, self.format_text) for text, lang in zip(texts, languages)]
        if cut_ids is None or len(cut_ids) != len(languages):
            raise ValueError("targets='pseudo' needs one cut id per clip")
        missing = [i for i, cut_id in enumerate(cut_ids) if cut_id not in self.cache]
        if missing:
            if audio is None:
                raise ValueError(
                    f"no cached pseudo-label for {[cut_ids[i] for i in missing][:5]} and no clean audio "
                    "to make them from"
                )
            lens = None if audio_lens is None else audio_lens[missing]
            found = transcribe(
                self.whisper,
                audio[missing],
                lens,
                [languages[i] for i in missing],
                sample_len=self.pseudo_label_max_tokens,
            )
            self.cache.add([{**label, "cut_id": cut_ids[i]} for i, label in zip(missing, found)])
        return [self.cache.tokens(cut_id) for cut_id in cut_ids]

    # ---- the loss ------------------------------------------------------------------------------------------
    def _window(self, lengths: Tensor) -> int:
        if self.encoder_window == "batch":
            step = self.window_step * SAMPLE_RATE
            longest = float(lengths.max()) if lengths.numel() else 0.0
            return window_frames(max(1, -(-longest // step)) * self.window_step)
        return window_frames(float(self.encoder_window))

    def _sub_batch_ce(
        self, audio16: Tensor, lengths: Tensor, sequences: Sequence[Sequence[int]], prefixes: Sequence[int]
    ) -> Tensor:
        """Summed cross-entropy over the target tokens of one sub-batch."""
        frames = self._window(lengths)
        inputs, targets = self.tokens.batch(sequences, prefixes, audio16.device)
        filters = mel_filters(audio16.device, self.whisper.dims.n_mels)
        return self._whisper_ce(audio16, filters, inputs, targets, frames)

    def _whisper_ce_eager(
        self, audio16: Tensor, filters: Tensor, inputs: Tensor, targets: Tensor, frames: int
    ) -> Tensor:
        """Whisper's part of :meth:`_sub_batch_ce`, tensors in and out (what :meth:`compile_whisper` compiles)."""
        with float32_region(audio16.device):
            mel = log_mel(audio16.float(), self.whisper.dims.n_mels, frames, filters)
        features = encode(self.whisper.encoder, mel)
        logits = self.whisper.decoder(inputs, features)
        return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="sum")

    def compile_whisper(self, **options) -> None:
        """Run Whisper's pass (log-mel, encoder, teacher-forced decoder, cross-entropy) through
        ``torch.compile(**options)``; its backward, which runs inside :meth:`forward`, is compiled with it. The
        targets, tokenisation and lengths stay in Python."""
        self._whisper_ce = torch.compile(self._whisper_ce_eager, **options)

    def forward(
        self,
        recon: Tensor,
        recon_lens: Optional[Tensor],
        languages: Sequence[str],
        texts: Optional[Sequence[str]] = None,
        cut_ids: Optional[Sequence[str]] = None,
        audio: Optional[Tensor] = None,
        audio_lens: Optional[Tensor] = None,
    ) -> Tensor:
        """Mean cross-entropy per target token.

        Args:
            recon: (B, N) reconstruction at ``sample_rate`` (or (B, 1, N)); gradients flow back into it.
            recon_lens: (B,) valid samples of ``recon``, or None when nothing is padded.
            languages: one Whisper language code per clip ("zh", "en").
            texts: transcripts (``targets="transcript"``).
            cut_ids, audio, audio_lens: for ``targets="pseudo"``: the cache keys, and the clean 16 kHz input
                (B, N16) with its lengths to transcribe cuts seen for the first time.
        """
        if recon.dim() == 3 and recon.shape[1] == 1:
            recon = recon.squeeze(1)
        if recon.dim() != 2 or len(languages) != recon.shape[0]:
            raise ValueError(
                f"expected (B, N) reconstruction and B languages, got {tuple(recon.shape)} and {len(languages)}"
            )
        lengths = full_lengths(recon, recon_lens)
        lengths16 = self.to_16k.lengths(lengths)
        with float32_region(recon.device):
            # zero before resampling too: the filter's tail would carry padding into the last valid samples
            audio16 = zero_beyond(self.to_16k(zero_beyond(recon.float(), lengths)), lengths16)
        # the padded length bounds every clip's: only a batch that could hold a clip over 30 s pays for a look
        # at the lengths (a host sync on CUDA)
        padded16 = resampled_length(recon.shape[1], self.sample_rate, SAMPLE_RATE)
        too_long = (
            (lengths16 > N_FRAMES * HOP_LENGTH).nonzero().flatten().tolist() if padded16 > N_FRAMES * HOP_LENGTH else []
        )
        if too_long:
            names = [cut_ids[i] for i in too_long] if cut_ids is not None else too_long
            logger.warning("ASR loss: %s longer than Whisper's 30 s window; audio and score are cut at 30 s", names)

        text_tokens = self.target_tokens(languages, texts, cut_ids, audio, audio_lens)
        names = list(cut_ids) if cut_ids is not None else [f"clip {i}" for i in range(len(languages))]
        sequences = [self.tokens.sequence(tok, lang, name) for tok, lang, name in zip(text_tokens, languages, names)]
        prefixes = [self.tokens.prefix_length(lang) for lang in languages]
        num_tokens = sum(len(seq) - prefix for seq, prefix in zip(sequences, prefixes))

        want_grad = torch.is_grad_enabled() and audio16.requires_grad
        total = audio16.new_zeros(())
        gradient = torch.zeros_like(audio16) if want_grad else None
        for start in range(0, len(sequences), self.sub_batch_size):
            index = slice(start, start + self.sub_batch_size)
            chunk = audio16[index].detach()
            if want_grad:
                chunk.requires_grad_(True)
                with torch.enable_grad():
                    ce = self._sub_batch_ce(chunk, lengths16[index], sequences[index], prefixes[index]) / num_tokens
                    (gradient[index],) = torch.autograd.grad(ce, chunk)
            else:
                ce = self._sub_batch_ce(chunk, lengths16[index], sequences[index], prefixes[index]) / num_tokens
            total = total + ce.detach().float()
        if want_grad:
            return _InjectGradient.apply(audio16, total, gradient)
        return total
