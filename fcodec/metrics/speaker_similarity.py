"""Speaker similarity: cosine similarity of GE2E speaker embeddings (Resemblyzer) of an original and its
reconstruction.

Resemblyzer's ``VoiceEncoder`` (Apache-2.0; its weights ship inside the wheel, loaded by torch's default
``weights_only`` loader) embeds one utterance at a time. Here each utterance goes through Resemblyzer's own
preprocessing (volume normalisation, long silences trimmed by WebRTC VAD) and partial-utterance slicing, and the
1.6 s partials of many utterances run through the LSTM in one batch; each utterance's embedding is the L2-normed
mean of its partials, as ``VoiceEncoder.embed_utterance`` computes it (tests/metrics/test_speaker_similarity.py
checks that they agree). Embeddings are L2-normed, so the similarity is their dot product (1: the same voice).
The FocalCodec papers use WavLM-base-SV instead; its weights are not available offline here.
"""

from __future__ import annotations

import logging
import math
from typing import List, Optional, Sequence

import numpy as np

SAMPLE_RATE = 16000


class SpeakerEncoder:
    """Batched Resemblyzer embeddings of 16 kHz waveforms."""

    name = "resemblyzer"

    def __init__(self, device: str = "cpu"):
        from importlib.metadata import version

        from resemblyzer import VoiceEncoder

        self.encoder = VoiceEncoder(device=device, verbose=False)
        self.encoder.eval()
        self.description = f"Resemblyzer {version('Resemblyzer')} GE2E speaker encoder (cosine similarity)"
        self.identity = {"name": "resemblyzer", "version": version("Resemblyzer")}

    def _partials(self, audio: np.ndarray, index: int) -> Optional[np.ndarray]:
        """The utterance's partial mel spectrograms (n, 160, 40), or None (logged) when it cannot be embedded."""
        from resemblyzer import preprocess_wav
        from resemblyzer.audio import wav_to_mel_spectrogram

        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if not np.isfinite(audio).all() or not np.any(audio):
            logging.warning("speaker similarity: waveform %d is silent or not finite; no embedding", index)
            return None
        wav = preprocess_wav(audio)
        if len(wav) == 0:
            logging.warning("speaker similarity: waveform %d has no voiced audio; no embedding", index)
            return None
        # the defaults of VoiceEncoder.embed_utterance
        wav_slices, mel_slices = self.encoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
        if wav_slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)), "constant")
        mel = wav_to_mel_spectrogram(wav)
        return np.array([mel[s] for s in mel_slices])

    def embed(self, waveforms: Sequence[np.ndarray], sample_rate: int, batch_size: int = 16) -> List[np.ndarray]:
        """One L2-normed embedding (256 floats) per waveform; all NaN for one that cannot be embedded.
        ``batch_size``: utterances whose partials share one forward pass."""
        import torch

        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"Resemblyzer embeds 16 kHz audio, got {sample_rate} Hz")
        partials = [self._partials(w, i) for i, w in enumerate(waveforms)]
        size = self.encoder.linear.out_features
        embeddings = [np.full(size, math.nan, dtype=np.float32) for _ in waveforms]
        live = [i for i, p in enumerate(partials) if p is not None]
        for start in range(0, len(live), max(1, batch_size)):
            batch = live[start : start + batch_size]
            with torch.no_grad():
                mels = torch.from_numpy(np.concatenate([partials[i] for i in batch])).to(self.encoder.device)
                partial_embeds = self.encoder(mels).cpu().numpy()
            offset = 0
            for i in batch:
                raw = partial_embeds[offset : offset + len(partials[i])].mean(axis=0)
                embeddings[i] = raw / np.linalg.norm(raw, 2)
                offset += len(partials[i])
        return embeddings


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings; NaN when either is missing."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def load_speaker_encoder(name: str, device: str = "cpu"):
    """(encoder, '') for ``resemblyzer``; (None, why) for ``none`` or when Resemblyzer cannot be loaded."""
    if name == "none":
        return None, "speaker similarity skipped: --speaker-model none"
    if name != "resemblyzer":
        raise ValueError(f"unknown speaker model {name!r} (resemblyzer or none)")
    try:
        return SpeakerEncoder(device=device), ""
    except ImportError as exc:
        return None, (
            f"speaker similarity skipped: Resemblyzer cannot be imported ({exc}); "
            "pip install Resemblyzer webrtcvad-wheels"
        )
