"""The one mel filterbank (fcodec.utils.mel), used by the mel loss and the mel-distance metric."""

import numpy as np
import pytest
import torch

from fcodec.losses import MultiScaleMelLoss
from fcodec.utils.mel import hz_to_mel, mel_filterbank, mel_to_hz


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filterbank_equals_librosa_filters_shipped_with_whisper(n_mels):
    """Whisper ships librosa.filters.mel(sr=16000, n_fft=400, n_mels) (Slaney scale and norm)."""
    from whisper.audio import mel_filters

    expected = mel_filters("cpu", n_mels).numpy()
    ours = mel_filterbank(16000, 400, n_mels)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-8)


def test_mel_scale_round_trips_and_is_linear_below_1khz():
    freqs = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 12000.0])
    for htk in (False, True):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs, htk), htk), freqs, atol=1e-9)
    assert hz_to_mel(1000.0) == pytest.approx(15.0) and hz_to_mel(500.0) == pytest.approx(7.5)
    assert hz_to_mel(700.0, htk=True) == pytest.approx(2595.0 * np.log10(2.0))


def test_mel_filterbank_htk_scale_and_errors():
    filters = mel_filterbank(24000, 1024, 80, htk=True, norm=None)
    assert filters.shape == (80, 513) and filters.max() <= 1.0 + 1e-6
    assert (filters.sum(axis=1) > 0).all()  # no empty band at this resolution
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(16000, 400, 80, f_max=9000)
    with pytest.raises(ValueError, match="norm"):
        mel_filterbank(16000, 400, 80, norm="area")


def test_mel_filterbank_above_nyquist_only_when_asked():
    """NISQA's layout (48 bands to 20 kHz) at 16 kHz: the bands below 8 kHz are those of a 40 kHz bank, the rest zero."""
    with pytest.raises(ValueError, match="sample_rate / 2"):
        mel_filterbank(16000, 400, 48, f_max=20000)
    ours = mel_filterbank(16000, 400, 48, f_max=20000, allow_above_nyquist=True)
    full = mel_filterbank(40000, 1000, 48)  # the same 40 Hz bins, up to 20 kHz
    assert ours.shape == (48, 201)
    np.testing.assert_allclose(ours, full[:, :201], rtol=1e-6, atol=1e-9)
    past_nyquist = full[:, :201].sum(axis=1) == 0  # bands that start above 8 kHz: present, all zero
    assert past_nyquist.sum() == 10 and not ours[past_nyquist].any()
    with pytest.raises(ValueError, match="f_min < f_max"):
        mel_filterbank(16000, 400, 48, f_min=100.0, f_max=50.0, allow_above_nyquist=True)


def test_nisqa_uses_the_public_filterbank():
    """NISQA's features go through the public, checked function (not the private cached helper)."""
    from fcodec.metrics import nisqa_features

    assert nisqa_features.mel_filterbank is mel_filterbank
    assert not hasattr(nisqa_features, "_filterbank")


def test_the_mel_loss_uses_the_shared_filterbank_and_cannot_change_it():
    loss = MultiScaleMelLoss(sample_rate=24000, window_lengths=(512,), n_mels=(64,))
    shared = mel_filterbank(24000, 512, 64)
    torch.testing.assert_close(loss.filters_0, torch.from_numpy(shared.copy()))
    loss.filters_0.mul_(2.0)  # the buffer is the loss's own copy: the cached filterbank is untouched
    np.testing.assert_array_equal(mel_filterbank(24000, 512, 64), shared)
    with pytest.raises(ValueError):
        shared[0, 0] = 1.0


def test_odd_fft_bins_are_those_of_the_dft():
    """An odd n_fft (DNSMOS's P.808 front end: 321) has bins k * sr / n_fft, the last below Nyquist, as librosa's."""
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(16000, 321, 120)
    assert np.abs(ours - librosa.filters.mel(sr=16000, n_fft=321, n_mels=120)).max() < 1e-6
