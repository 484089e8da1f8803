"""A small real model, data and objective for testing the generic training machinery.

The trainer is task-agnostic; these tests drive it with a tiny convolutional autoencoder on synthetic audio held
in real lhotse cuts, batched by a real lhotse sampler. The submodule names mirror the codec's (encoder,
compressor, decompressor, decoder) so the trainable modes select the same way.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf
import torch
import torch.nn as nn
import torch.nn.functional as F
from lhotse import CutSet, Recording, SupervisionSegment
from lhotse.dataset import DynamicBucketingSampler, SimpleCutSampler
from lhotse.dataset.collation import collate_audio

from fcodec.train.objective import Objective, StepResult

SR = 16000


class ToyCodec(nn.Module):
    def __init__(self, channels: int = 8):
        super().__init__()
        self.encoder = nn.Conv1d(1, channels, 8, stride=4, padding=2)
        self.compressor = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.Tanh())
        self.decompressor = nn.Sequential(
            nn.Conv1d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv1d(channels, channels, 3, padding=1)
        )
        self.decoder = nn.ConvTranspose1d(channels, 1, 8, stride=4, padding=2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(audio.unsqueeze(1))
        recon = self.decoder(self.decompressor(self.compressor(feats)))
        recon = recon.squeeze(1)[:, : audio.shape[1]]
        return F.pad(recon, (0, audio.shape[1] - recon.shape[1]))


class ToyObjective(Objective):
    def compute(self, model: nn.Module, batch: Dict, step: int, train: bool) -> StepResult:
        audio, lens = batch["audio"], batch["audio_lens"]
        recon = model(audio)
        mask = (torch.arange(audio.shape[1], device=audio.device)[None] < lens[:, None]).float()
        mse = ((recon - audio) ** 2 * mask).sum() / mask.sum()
        l1 = ((recon - audio).abs() * mask).sum() / mask.sum()
        return StepResult(
            loss=mse + 0.1 * l1,
            terms={"mse": mse.detach(), "l1": l1.detach()},
            num_items=audio.shape[0],
            stats={"frames": mask.sum().detach()},
            output=SimpleNamespace(sig=recon),  # what discriminators judge (the codec's output has .sig)
        )

    def summarize(self, stats: Dict[str, torch.Tensor]) -> Dict[str, float]:
        return {"dev_frames": float(stats["frames"])}

    def audio_examples(self, model, batch, max_items) -> List[Tuple[str, torch.Tensor, int]]:
        recon = model(batch["audio"][:max_items])
        return [(f"recon_{i}", recon[i, : int(batch["audio_lens"][i])], SR) for i in range(recon.shape[0])]


TEXTS = {
    "en": ["THE CAT SAT ON THE MAT", "A BIRD SINGS IN THE TREE", "SHE READS A BOOK AT NIGHT"],
    "zh": ["今天天气很好", "我们一起去学校", "他在家里看书"],
}


def make_cuts(folder: Path, num: int = 12, seed: int = 0, min_s: float = 0.6, max_s: float = 1.4) -> CutSet:
    """Harmonic tones with noise, written as wav files, one supervision per cut (like the real manifests)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    cuts = []
    for i in range(num):
        dur = float(rng.uniform(min_s, max_s))
        t = np.arange(int(dur * SR)) / SR
        f0 = rng.uniform(100, 300)
        wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 4)) * 0.2 + 0.01 * rng.standard_normal(t.size)
        path = folder / f"utt{i}.wav"
        sf.write(path, wave.astype(np.float32), SR)
        rec = Recording.from_file(path, recording_id=f"{'zh' if i % 2 else 'en'}_utt{i}")
        sup = SupervisionSegment(
            id=rec.id,
            recording_id=rec.id,
            start=0.0,
            duration=rec.duration,
            text=TEXTS["zh" if i % 2 else "en"][i % 3],
            language="zh" if i % 2 else "en",
        )
        cuts.append(rec.to_cut().with_id(rec.id))
        cuts[-1].supervisions = [sup]
    return CutSet.from_cuts(cuts)


class ToyDataset(torch.utils.data.Dataset):
    """Random crop (drawn from Python's global RNG, as a simple dataset would) and collation."""

    def __init__(self, segment: float = None):
        self.segment = segment

    def __getitem__(self, cuts: CutSet) -> Dict:
        if self.segment is not None:
            cropped = []
            for cut in cuts:
                if cut.duration > self.segment:
                    offset = random.uniform(0, cut.duration - self.segment)
                    cut = cut.truncate(offset=offset, duration=self.segment, preserve_id=True)
                cropped.append(cut)
            cuts = CutSet.from_cuts(cropped)
        audio, lens = collate_audio(cuts)
        return {"audio": audio, "audio_lens": lens, "cut_id": [c.id for c in cuts]}


def make_loader(
    cuts: CutSet,
    train: bool,
    max_duration: float = 2.0,
    segment: float = 0.5,
    seed: int = 0,
    num_workers: int = 0,
    bucketing: bool = True,
):
    if train and bucketing:
        sampler = DynamicBucketingSampler(
            cuts, max_duration=max_duration, shuffle=True, num_buckets=2, seed=seed, buffer_size=100
        )
    else:
        sampler = SimpleCutSampler(cuts, max_duration=max_duration, shuffle=train, seed=seed)
    dataset = ToyDataset(segment if train else None)
    return torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers)


def export_state(model: nn.Module, folder: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
