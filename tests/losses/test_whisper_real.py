"""The ASR loss with the real multilingual Whisper base on real speech (skipped when ../shared is absent).

A random Whisper cannot tell a right transcript, language token or text format from a wrong one; this one can.
Most checks score several targets against one encoder pass per clip (``features``), with the same pieces the
loss uses (log_mel, encode, WhisperTargets); test_loss_path_on_a_24khz_copy_matches ties them to the public path.
"""

import pytest
import torch
import torch.nn.functional as F

from fcodec.losses import WhisperASRLoss, resample
from fcodec.losses.whisper_frontend import encode, log_mel, window_frames
from fcodec.losses.whisper_targets import IGNORE_INDEX, WhisperTargets

pytestmark = pytest.mark.real_assets

EN = ["en_84-121123-0001", "en_84-121123-0012", "en_84-121123-0019", "en_84-121123-0022"]
ZH = "zh_38_5731_20170914195805"
WRONG = {"en": "I ONLY WISH TO BE ALONE YOU WILL EXCUSE ME WILL YOU NOT", "zh": "今天天气很好我们去公园散步吧"}


class _Features(dict):
    """Whisper base encoder output per clip (Whisper's own 30 s window), computed on first use."""

    def __init__(self, model, clips):
        super().__init__()
        self.model, self.clips = model, clips

    def __missing__(self, cut_id):
        with torch.no_grad():
            self[cut_id] = encode(self.model.encoder, log_mel(self.clips[cut_id][0][None], self.model.dims.n_mels))
        return self[cut_id]


@pytest.fixture(scope="module")
def features(real_whisper, real_clips):
    return _Features(real_whisper, real_clips)


def score(model, feats, text, language, format_text=True) -> float:
    """Mean cross-entropy per target token of ``text`` given encoder features (what the loss computes)."""
    targets = WhisperTargets.for_model(model)
    sequence = targets.sequence(targets.encode(text, language, format_text), language)
    inputs, labels = targets.batch([sequence], [targets.prefix_length(language)], feats.device)
    with torch.no_grad():
        logits = model.decoder(inputs, feats)
    return F.cross_entropy(logits[0], labels[0], ignore_index=IGNORE_INDEX).item()


def test_correct_transcript_scores_far_below_a_wrong_one(real_whisper, real_clips, features):
    for cut_id in EN[:2] + [ZH]:
        _, lang, text = real_clips[cut_id]
        right = score(real_whisper, features[cut_id], text, lang)
        wrong = score(real_whisper, features[cut_id], WRONG[lang], lang)
        assert right < 0.5 and wrong > 3.0 and wrong > 8 * right, (cut_id, right, wrong)


def test_the_cuts_own_language_token_scores_lower(real_whisper, real_clips, features):
    for cut_id in EN[:2] + [ZH]:
        _, lang, text = real_clips[cut_id]
        other = "zh" if lang == "en" else "en"
        own = score(real_whisper, features[cut_id], text, lang)
        # the same text tokens under the other language token
        swapped = WhisperTargets.for_model(real_whisper)
        sequence = swapped.sequence(swapped.encode(text, lang), other)
        inputs, labels = swapped.batch([sequence], [swapped.prefix_length(other)], torch.device("cpu"))
        with torch.no_grad():
            logits = real_whisper.decoder(inputs, features[cut_id])
        foreign = F.cross_entropy(logits[0], labels[0], ignore_index=IGNORE_INDEX).item()
        assert own < foreign - 0.2, (cut_id, own, foreign)


def test_targets_formatted_as_whisper_writes_score_lower_than_corpus_text(real_whisper, real_clips, features):
    """LibriSpeech's upper case and AISHELL's spaced characters are far from what Whisper writes."""
    for cut_id in EN[:3]:
        _, lang, text = real_clips[cut_id]
        formatted = score(real_whisper, features[cut_id], text, lang)
        upper = score(real_whisper, features[cut_id], text, lang, format_text=False)
        assert formatted < 0.6 * upper, (cut_id, formatted, upper)
    _, lang, text = real_clips[ZH]
    formatted = score(real_whisper, features[ZH], text, lang)
    spaced = score(real_whisper, features[ZH], " ".join(text), lang, format_text=False)
    assert formatted < 0.6 * spaced, (formatted, spaced)


def test_loss_path_on_a_24khz_copy_matches(real_whisper, real_clips, features):
    """The public loss on a 24 kHz copy (resampled back inside, pad-30) scores what Whisper hears on the input."""
    audio, lang, text = real_clips[EN[0]]
    loss = WhisperASRLoss(real_whisper, 24000)
    with torch.no_grad():
        value = loss(resample(audio[None], 16000, 24000), None, [lang], [text]).item()
    reference = score(real_whisper, features[EN[0]], text, lang)
    assert value == pytest.approx(reference, rel=0.05, abs=0.01)


def test_pseudo_label_is_whispers_transcript_of_the_clean_clip(real_whisper, real_clips, tmp_path):
    """Greedy, no timestamps: the loss's own prompt. (With timestamps, as ``transcribe`` decodes, Whisper base
    writes "5 minutes" here; under <|notimestamps|> it writes "five".)"""
    audio, lang, _ = real_clips[EN[0]]
    loss = WhisperASRLoss(real_whisper, 16000, targets="pseudo", pseudo_label_path=tmp_path / "labels.jsonl")
    loss.target_tokens([lang], cut_ids=[EN[0]], audio=audio[None])
    assert loss.cache.labels[EN[0]]["text"] == (
        "But in less than five minutes, the staircase groaned beneath an extraordinary weight."
    )


def test_shorter_encoder_windows_change_the_loss_on_real_speech(real_whisper, real_clips, features):
    """Why pad-to-30 s stays the default: a window cut to the clip is faster but is not the same loss.

    On short clips the 'batch' window (clip length rounded up to 1 s) moves the per-clip loss by tens of percent
    (measured over 19 clips of 2-16 s: +94 % on average, up to +220 % on 2-3 s clips; a 20 s window +6 %, up to
    +20 %); it still tells right from wrong.
    """
    differences = []
    for cut_id in EN[1:3] + [ZH]:
        audio, lang, text = real_clips[cut_id]
        frames = window_frames(-(-len(audio) // 16000))
        with torch.no_grad():
            short = encode(real_whisper.encoder, log_mel(audio[None], real_whisper.dims.n_mels, frames))
        full_right = score(real_whisper, features[cut_id], text, lang)
        short_right = score(real_whisper, short, text, lang)
        assert short_right < score(real_whisper, short, WRONG[lang], lang) / 4, cut_id
        differences.append(abs(short_right - full_right) / full_right)
    assert max(differences) > 0.2, differences


def test_real_whisper_gradient_lowers_the_loss_on_noisy_speech(real_whisper, real_clips):
    """Two Adam steps on the waveform of a noisy clip (5 dB SNR) cut the CE: the gradient is Whisper's.

    The 'batch' window keeps this test to seconds; the pad-30 default does the same (benchmark notes).
    """
    audio, lang, text = real_clips[EN[3]]
    generator = torch.Generator().manual_seed(0)
    noisy = audio + audio.std() * 10 ** (-5 / 20) * torch.randn(audio.shape, generator=generator)
    loss = WhisperASRLoss(real_whisper, 16000, encoder_window="batch")
    waveform = torch.nn.Parameter(noisy[None].clone())
    optimizer = torch.optim.Adam([waveform], lr=1e-3)
    values = []
    for _ in range(2):
        optimizer.zero_grad()
        value = loss(waveform, None, [lang], [text])
        value.backward()
        optimizer.step()
        values.append(value.item())
    with torch.no_grad():
        values.append(loss(waveform, None, [lang], [text]).item())
    assert values[-1] < 0.7 * values[0], values
