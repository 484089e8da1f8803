"""The polyphase resampler: scipy.signal.resample_poly's output exactly, lengths, gradients, real speech."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from fcodec.losses.resample import Resample, resample, resampled_length, resampled_lengths
from tests.losses.conftest import REAL_CLIPS, load_clip


@pytest.mark.parametrize("orig, new", [(16000, 24000), (24000, 16000), (16000, 48000), (44100, 16000), (8000, 16000)])
@pytest.mark.parametrize("length", [1, 7, 1000, 16001])
def test_matches_resample_poly(orig, new, length):
    x = np.random.default_rng(length).standard_normal((3, length))
    g = math.gcd(orig, new)
    expected = scipy.signal.resample_poly(x, new // g, orig // g, axis=-1)
    got = resample(torch.from_numpy(x), orig, new).numpy()
    assert got.shape == expected.shape == (3, resampled_length(length, orig, new))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_same_rate_is_identity_and_lengths_are_exact():
    x = torch.randn(2, 100)
    assert resample(x, 16000, 16000) is x
    lengths = torch.tensor([0, 1, 2, 3, 16000, 16001])
    assert resampled_lengths(lengths, 16000, 24000).tolist() == [math.ceil(n * 1.5) for n in lengths.tolist()]
    assert resampled_lengths(lengths, 24000, 16000).tolist() == [math.ceil(n * 2 / 3) for n in lengths.tolist()]


def test_other_filter_designs_stay_close_on_band_limited_signals():
    """A sharper design (more zero crossings, lower cutoff) agrees with resample_poly where both are flat."""
    t = np.arange(16000) / 16000
    x = sum(np.sin(2 * np.pi * f * t + f) for f in (110.0, 440.0, 1234.0, 3000.0, 6000.0))
    reference = scipy.signal.resample_poly(x, 3, 2)
    sharper = resample(torch.from_numpy(x), 16000, 24000, zero_crossings=32, rolloff=0.95, beta=8.6).numpy()
    interior = slice(200, -200)  # away from the zero-padded edges
    assert np.abs(sharper[interior] - reference[interior]).max() < 2e-3 * np.abs(reference).max()


def test_module_matches_function_and_moves_with_dtype():
    x = torch.randn(2, 3, 997, dtype=torch.float64)
    module = Resample(24000, 16000).double()
    torch.testing.assert_close(module(x), resample(x, 24000, 16000), rtol=1e-6, atol=1e-6)
    assert module(x).shape == (2, 3, 665)
    assert module.state_dict() == {}  # the kernel is derived, never checkpointed


def test_gradient_is_the_adjoint():
    """The resampler is linear, so autograd's gradient must be its exact transpose (gradcheck in float64)."""
    x = torch.randn(2, 40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: resample(v, 16000, 24000), (x,))
    assert torch.autograd.gradcheck(lambda v: resample(v, 24000, 16000), (x,))


def test_real_speech_round_trip_and_reference(real_audio_dir):
    path, _, _ = REAL_CLIPS["en_84-121123-0001"]
    speech = load_clip(real_audio_dir, path).double()
    up = resample(speech, 16000, 24000)
    np.testing.assert_allclose(up.numpy(), scipy.signal.resample_poly(speech.numpy(), 3, 2), atol=1e-9)
    back = resample(up, 24000, 16000)
    assert back.shape == speech.shape
    # 16k -> 24k -> 16k keeps speech: only the band near 8 kHz (the filter's transition band) is touched
    error = (back - speech).norm() / speech.norm()
    assert error < 0.05, f"round-trip relative error {error:.3f}"
