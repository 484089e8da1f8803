"""Batches of 16 kHz audio for codec training and evaluation, from lhotse cuts.

The sampler hands the dataset a CutSet per batch (lhotse's map-style convention, ``DataLoader(batch_size=None)``).
Training crops a random ``segment_duration`` of every longer cut *before* any audio is read (lhotse's
``truncate``), so a 30 s utterance costs one second of decoding, not thirty. The crop offsets are drawn from a
generator seeded by the batch's cut ids, so the same batch gets the same crops in every worker process and
after a resume. Evaluation yields whole utterances.
"""

from __future__ import annotations

import hashlib
import logging
import random
from typing import Dict, Optional

import torch

SAMPLE_RATE = 16000


class CodecDataset(torch.utils.data.Dataset):
    """``dataset[cuts] -> {"audio", "audio_lens", "text", "language", "cut_id"}`` (plus ``"cuts"`` on request).

    ``audio`` is float32 (B, T) zero-padded on the right, ``audio_lens`` int64 (B,) the samples of each item.
    A cut whose audio cannot be read is logged by id and left out of its batch; a batch with none left raises.
    """

    def __init__(self, segment_duration: Optional[float] = None, seed: int = 0, sample_rate: int = SAMPLE_RATE):
        if segment_duration is not None and segment_duration <= 0:
            raise ValueError(f"segment_duration must be positive, got {segment_duration}")
        self.segment_duration = segment_duration
        self.seed = seed
        self.sample_rate = sample_rate

    def crop_rng(self, cuts) -> random.Random:
        """A generator that depends only on the seed and the cut ids of the batch."""
        digest = hashlib.sha256(f"{self.seed}|".encode() + "|".join(c.id for c in cuts).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "little"))

    def __getitem__(self, cuts) -> Dict:
        from lhotse.dataset.collation import collate_audio

        from fcodec.data.sources import check_all

        check_all(cuts)  # before any audio is read: a command source must not run, not even "fault-tolerantly"
        if self.segment_duration is not None:
            cuts = cuts.truncate(
                max_duration=self.segment_duration, offset_type="random", preserve_id=True, rng=self.crop_rng(cuts)
            )
        if any(c.sampling_rate != self.sample_rate for c in cuts):
            cuts = cuts.resample(self.sample_rate)
        audio, audio_lens, read = collate_audio(cuts, fault_tolerant=True)
        if len(read) < len(cuts):
            lost = sorted(set(cuts.ids) - set(read.ids))
            logging.warning(f"could not read the audio of {len(lost)} cut(s), left out of the batch: {lost}")
            if len(read) == 0:
                raise RuntimeError(f"no audio could be read for any cut of the batch {list(cuts.ids)}")
        if audio.dim() != 2:
            raise ValueError(f"expected mono cuts, got audio of shape {tuple(audio.shape)} for {list(read.ids)}")
        batch = {
            "audio": audio.to(torch.float32),
            "audio_lens": audio_lens.to(torch.int64),
            "text": [c.supervisions[0].text if c.supervisions else "" for c in read],
            "language": [c.supervisions[0].language if c.supervisions else "" for c in read],
            "cut_id": list(read.ids),
        }
        return batch
