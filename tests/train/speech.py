"""Mini-recipe-like data for the codec tests: a few eSpeak NG sentences per language in real lhotse cuts.

It uses the same synthesiser and sentence generator as the mini recipe's corpus (fcodec.data.synth), without
the corpus layouts, so a test gets speech-like audio with transcripts in a second.
"""

from __future__ import annotations

from pathlib import Path

import soundfile as sf
from lhotse import CutSet, Recording, SupervisionSegment

from fcodec.data.synth.mini_corpus import SAMPLE_RATE, Voice, render
from fcodec.data.synth.sentences import make_sentences
from fcodec.data.text_norm import normalize_text

VOICES = {
    "zh": [Voice("cmn+f2", 170, 55, 0.7), Voice("cmn+m3", 150, 40, 0.6)],
    "en": [Voice("en-us+m3", 165, 45, 0.7), Voice("en-us+f2", 175, 60, 0.6)],
}


def make_speech_cuts(folder: Path, per_language: int = 6, seed: int = 0) -> CutSet:
    folder.mkdir(parents=True, exist_ok=True)
    cuts = []
    for language in ("zh", "en"):
        for i, text in enumerate(make_sentences(language, per_language, seed=seed)):
            voice = VOICES[language][i % len(VOICES[language])]
            path = folder / f"{language}_{i:03d}.wav"
            sf.write(path, render(text, voice, noise_seed=seed * 1000 + i), SAMPLE_RATE)
            rec = Recording.from_file(path, recording_id=f"{language}_{seed}_{i:03d}")
            cut = rec.to_cut().with_id(rec.id)
            cut.supervisions = [
                SupervisionSegment(
                    id=rec.id,
                    recording_id=rec.id,
                    start=0.0,
                    duration=rec.duration,
                    text=normalize_text(text, language),
                    language=language,
                )
            ]
            cuts.append(cut)
    return CutSet.from_cuts(cuts)


def run_overrides(assets, **extra):
    """Command-line overrides for a fast tiny training run on the ``assets`` data; ``extra`` adds or replaces."""
    args = {
        "data.train_cuts": assets["train"],
        "data.dev_cuts": assets["dev"],
        "data.max_duration": 4,
        "data.dev_max_duration": 20,
        "data.segment_duration": 1.0,
        "data.num_workers": 0,
        "data.num_buckets": 2,
        "train.device": "cpu",
        "train.log_interval": 2,
        "assets.bpe_model": assets["bpe"],
        **extra,
    }
    return [f"{k}={v}" for k, v in args.items()]
