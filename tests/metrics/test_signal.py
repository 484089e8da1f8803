"""Signal metrics: definitions checked against references, and real speech with itself and with noise."""

import numpy as np
import pytest
import soundfile as sf

from fcodec.metrics.signal import align, estimate_delay, score_pair, si_sdr
from fcodec.metrics.spectral_distance import mel_distance, stft_distance, stft_magnitude
from fcodec.metrics.testing import speechlike


def test_stft_magnitude_has_audiotools_frames():
    """Frame k is the periodic-Hann windowed FFT of samples k*hop .. k*hop+w of the signal right-padded to whole
    hops and reflect-padded by w/2 at both ends (DAC's evaluation STFT)."""
    signal = speechlike(0.37, seed=7)
    for window in (2048, 512):
        hop, half = window // 4, window // 2
        padded = np.pad(signal, (0, -len(signal) % hop))
        padded = np.pad(padded, (half, half), mode="reflect")
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
        magnitude = stft_magnitude(signal, window)
        assert magnitude.shape == (window // 2 + 1, 1 + (len(padded) - window) // hop)
        for k in (0, 3, magnitude.shape[1] - 1):
            expected = np.abs(np.fft.rfft(padded[k * hop : k * hop + window] * hann))
            np.testing.assert_allclose(magnitude[:, k], expected, rtol=1e-4, atol=1e-5)


def test_si_sdr_is_scale_invariant_and_matches_snr_of_independent_noise():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(160000)
    noise = rng.standard_normal(160000)
    ref, noise = ref - ref.mean(), noise - noise.mean()  # SI-SDR works on zero-mean signals
    noise -= ref * np.dot(noise, ref) / np.dot(ref, ref)  # exactly orthogonal: SI-SDR is the SNR
    noisy = ref + 0.1 * noise
    expected = 10 * np.log10(np.dot(ref, ref) / np.dot(0.1 * noise, 0.1 * noise))
    assert si_sdr(ref, noisy) == pytest.approx(expected, abs=1e-6)
    assert si_sdr(ref, 0.3 * noisy) == pytest.approx(si_sdr(ref, noisy), abs=1e-9)
    assert si_sdr(ref, ref) == 100.0  # capped, not infinite
    assert si_sdr(ref, np.zeros_like(ref)) == -100.0


def test_spectral_distances_are_zero_for_copies_and_grow_with_noise():
    clean = speechlike(1.5, seed=1)
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(len(clean)).astype(np.float32)
    assert mel_distance(clean, clean, 16000) == 0.0 and stft_distance(clean, clean) == 0.0
    mels = [mel_distance(clean, clean + level * noise, 16000) for level in (0.001, 0.01, 0.1)]
    stfts = [stft_distance(clean, clean + level * noise) for level in (0.001, 0.01, 0.1)]
    assert 0 < mels[0] < mels[1] < mels[2]
    assert 0 < stfts[0] < stfts[1] < stfts[2]


def test_delay_is_found_and_removed():
    clean = speechlike(2.0, seed=3)
    delayed = np.concatenate([np.zeros(37, np.float32), clean])[: len(clean) + 20]
    assert estimate_delay(clean, delayed, max_delay=1600) == 37
    assert estimate_delay(delayed, clean, max_delay=1600) == -37
    ref, est, delay = align(clean, delayed, max_delay=1600)
    assert delay == 37 and len(ref) == len(est)
    np.testing.assert_array_equal(est, clean[: len(est)])
    aligned = score_pair(clean, delayed, max_delay=1600)
    unaligned = score_pair(clean, delayed, max_delay=0)
    assert aligned.values["si_sdr"] == 100.0 and aligned.values["pesq"] > 4.4
    assert unaligned.values["si_sdr"] < 10.0


def test_unscorable_pairs_fail_with_reasons_instead_of_values():
    short = score_pair(speechlike(0.2, seed=4), speechlike(0.2, seed=4))
    assert "pesq" not in short.values and "1/4 of a second" in short.failures["pesq"]
    assert "too short for STOI" in short.failures["stoi"]
    silent = score_pair(speechlike(1.0, seed=5), np.zeros(16000, np.float32))
    assert silent.failures["pesq"] == "pesq: the reconstruction is silent"
    assert silent.values["si_sdr"] == -100.0 and silent.values["stoi"] == 0.0
    broken = score_pair(speechlike(1.0, seed=5), np.full(16000, np.nan, np.float32))
    assert set(broken.failures) == {"pesq", "stoi", "si_sdr", "mel_distance", "stft_distance"}
    assert not broken.values


@pytest.mark.real_assets
@pytest.mark.parametrize(
    "relative", ["librispeech-dev-clean/84/84-121123-0001.wav", "magicdata-zh-dev-set/38_5731_20170914195805.wav"]
)
def test_pesq_and_stoi_of_real_speech_with_itself_and_with_noise(real_audio_dir, relative):
    clean, rate = sf.read(real_audio_dir / relative, dtype="float32")
    assert rate == 16000
    itself = score_pair(clean, clean)
    assert itself.values["pesq"] > 4.5 and itself.values["stoi"] > 0.999
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(clean)).astype(np.float32) * np.sqrt(np.mean(clean**2))
    scores = [score_pair(clean, clean + noise * 10 ** (-snr / 20)).values for snr in (30, 10, 0)]
    pesqs, stois = [s["pesq"] for s in scores], [s["stoi"] for s in scores]
    assert itself.values["pesq"] > pesqs[0] > pesqs[1] > pesqs[2] >= 1.0
    assert itself.values["stoi"] > stois[0] > stois[1] > stois[2] > 0.3
    assert scores[1]["si_sdr"] == pytest.approx(10.0, abs=0.5)  # white noise at 10 dB SNR
