"""Decoding one batch of test cuts: read the audio, run the codec, write each cut's wav and tokens.

A cut whose audio cannot be read, or is shorter than one chunk in streaming mode, fails alone; a batch the codec
fails on is retried one cut at a time, so only the cut that breaks it fails. Each cut gets a journal record
(fcodec.infer.decode_journal): "ok" with its manifests, or "failed" with the reason.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from fcodec.data.audio import AudioReadError, read_mono
from fcodec.data.audio_check import TOO_SHORT
from fcodec.infer.batched import duration_batches, encode_decode
from fcodec.infer.decode_journal import CODEC_ERROR
from fcodec.infer.tokens import TOKENS_DIR, TokenWriter
from fcodec.layout import decode_format
from fcodec.models.codec import FocalCodec

__all__ = ["BatchDecoder", "batches"]

logger = logging.getLogger(__name__)


def _read_signal(cut: Any, model: FocalCodec, streaming: bool) -> Tuple[Optional[torch.Tensor], Optional[str]]:
    """``(signal, None)`` at the codec's input rate, or ``(None, reason)`` for bad input."""
    try:
        audio = read_mono(cut, model.sample_rate_input)
    except AudioReadError as exc:
        return None, str(exc)
    if streaming and audio.size < model.chunk_size:
        return None, (
            f"{TOO_SHORT} to stream: {audio.size} samples, less than one chunk of {model.chunk_size} "
            f"({model.latency:.0f} ms)"
        )
    return torch.from_numpy(audio), None


def batches(cuts: Sequence[Any], model: FocalCodec, max_duration: float, max_batch_size: int) -> Iterator[List[Any]]:
    """``cuts`` in batches of at most ``max_duration`` seconds of padded audio (fcodec.infer.batched)."""
    lengths = [round(cut.duration * model.sample_rate_input) for cut in cuts]
    for group in duration_batches(model, lengths, max_duration, max_batch_size):
        yield [cuts[i] for i in group]


def _sync(model: FocalCodec) -> None:
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class BatchDecoder:
    def __init__(self, model: FocalCodec, out_dir: Path, streaming: bool) -> None:
        self.model = model
        self.streaming = streaming
        self.wav_dir = out_dir / decode_format.WAV_DIR
        self.token_writer = TokenWriter(out_dir / TOKENS_DIR, model.frame_rate, model.codebook_size)

    def run(self, cuts: Sequence[Any]) -> List[Dict[str, Any]]:
        """Decode one batch; a record per cut ("ok" with its manifests, or "failed" with the reason)."""
        records: List[Dict[str, Any]] = []
        readable: List[Tuple[Any, torch.Tensor]] = []
        for cut in cuts:
            signal, problem = _read_signal(cut, self.model, self.streaming)
            if problem is not None:
                logger.warning("cut %s: %s", cut.id, problem)
                records.append({"cut_id": cut.id, "status": "failed", "reason": problem})
            else:
                readable.append((cut, signal))
        if not readable:
            return records
        try:
            results, seconds = self._codec([s for _, s in readable])
        except Exception as exc:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # after an out-of-memory error, before the retries
            if len(readable) == 1:
                cut = readable[0][0]
                reason = f"{CODEC_ERROR}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                logger.warning("cut %s: %s", cut.id, reason)
                return records + [{"cut_id": cut.id, "status": "failed", "reason": reason}]
            # find the cut that breaks the batch; the others still get decoded
            logger.warning(
                "a batch of %d cuts failed (%s: %s); decoding them one at a time",
                len(readable),
                type(exc).__name__,
                exc,
            )
            for cut, _ in readable:
                records.extend(self.run([cut]))
            return records
        total = sum(s.shape[-1] for _, s in readable)
        for (cut, signal), result in zip(readable, results):
            recon = decode_format.write_recon_cut(
                cut, result.audio.numpy(), self.model.sample_rate_output, self.wav_dir
            )
            tokens = self.token_writer.write(cut, result.tokens.numpy())
            records.append(
                {
                    "cut_id": cut.id,
                    "status": "ok",
                    "seconds": signal.shape[-1] / self.model.sample_rate_input,
                    "num_tokens": int(result.tokens.shape[-1]),
                    "compute_seconds": seconds * signal.shape[-1] / total,  # the batch's time, shared by length
                    "recon": recon.to_dict(),
                    "tokens": tokens.to_dict(),
                }
            )
        return records

    def _codec(self, signals: List[torch.Tensor]):
        _sync(self.model)
        began = time.perf_counter()
        results = encode_decode(self.model, signals, streaming=self.streaming)
        _sync(self.model)
        return results, time.perf_counter() - began
