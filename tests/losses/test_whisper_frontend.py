"""Whisper's front end, batched and differentiable: equal to openai-whisper's own functions clip by clip."""

import pytest
import torch
import whisper

from fcodec.losses.whisper_frontend import N_FRAMES, encode, encode_window, log_mel, window_frames


def _clips():
    generator = torch.Generator().manual_seed(0)
    quiet = 0.001 * torch.randn(16000 * 2, generator=generator)
    loud = 0.5 * torch.randn(16000 * 3, generator=generator)
    return [quiet, loud]


def test_log_mel_equals_whispers_per_clip_even_in_a_batch():
    """The floor (max - 8) is per clip: a loud neighbour in the batch must not change a quiet clip's features."""
    clips = _clips()
    batch = torch.zeros(2, 16000 * 3)
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
    ours = log_mel(batch, 80)
    assert ours.shape == (2, 80, N_FRAMES)
    for i, clip in enumerate(clips):
        reference = whisper.log_mel_spectrogram(whisper.pad_or_trim(clip))
        torch.testing.assert_close(ours[i], reference, rtol=1e-5, atol=1e-5)
    # openai-whisper on the whole batch takes one max: the quiet clip's floor moves (what the predecessor computed)
    batched = whisper.log_mel_spectrogram(whisper.pad_or_trim(batch))
    assert (batched[0] - ours[0]).abs().max() > 0.5


def test_short_window_frames_equal_the_30s_frames():
    clip = _clips()[1][None]
    full = log_mel(clip, 80)
    frames = window_frames(3.0)
    assert frames == 300
    torch.testing.assert_close(log_mel(clip, 80, frames), full[..., :frames])
    assert window_frames(2.01) % 2 == 0 and window_frames(45.0) == N_FRAMES


def test_log_mel_gradient_is_finite_through_zero_padding():
    audio = torch.zeros(1, 16000)
    audio[0, :8000] = 0.1 * torch.randn(8000)
    audio.requires_grad_(True)
    log_mel(audio, 80).sum().backward()
    assert torch.isfinite(audio.grad).all() and audio.grad[0, :8000].abs().max() > 0


def test_encode_window_is_the_encoder_at_30s_and_accepts_shorter_windows(tiny_whisper):
    mel = log_mel(_clips()[1][None], 80)
    torch.testing.assert_close(encode_window(tiny_whisper.encoder, mel), tiny_whisper.encoder(mel))
    short = encode(tiny_whisper.encoder, mel[..., :400])
    assert short.shape == (1, 200, tiny_whisper.dims.n_audio_state)
    with pytest.raises(ValueError, match="even number"):
        encode(tiny_whisper.encoder, mel[..., :401])
