"""Feature MSE, multi-scale mel and multi-resolution STFT losses: references, zeros, masks, gradients, training."""

import pytest
import torch

from fcodec.losses import FeatureMSELoss, MultiResolutionSTFTLoss, MultiScaleMelLoss, resample


def _speechlike(batch: int, seconds: float, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    n = int(seconds * 16000)
    t = torch.arange(n) / 16000
    f0 = 120 + 40 * torch.rand(batch, 1, generator=generator)
    tone = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 8))
    return 0.1 * tone * (1 + torch.sin(2 * torch.pi * 3 * t)) + 0.01 * torch.randn(batch, n, generator=generator)


SPECTRAL = [MultiScaleMelLoss, MultiResolutionSTFTLoss]


@pytest.mark.parametrize("loss_class", SPECTRAL)
def test_spectral_loss_is_zero_for_the_resampled_input_and_grows_with_error(loss_class):
    loss = loss_class(sample_rate=24000)
    audio = _speechlike(2, 1.0)
    target = resample(audio, 16000, 24000)
    recon = target.clone().requires_grad_(True)
    value = loss(recon, audio)
    value.backward()
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(recon.grad).all()  # no NaN from norms or logs at zero error
    small = loss(target + 0.001 * torch.randn_like(target), audio)
    large = loss(target + 0.05 * torch.randn_like(target), audio)
    assert 0 < small < large


@pytest.mark.parametrize("loss_class", SPECTRAL)
def test_spectral_loss_ignores_padding(loss_class):
    """Garbage past an item's length changes nothing, and a padded item scores as it does alone."""
    loss = loss_class(sample_rate=24000)
    audio = _speechlike(2, 1.0)
    audio_lens = torch.tensor([16000, 9000])
    audio[1, 9000:] = 0
    recon = resample(audio, 16000, 24000) + 0.01 * torch.randn(2, 24000)
    garbage = recon.clone()
    garbage[1, 13500:] = torch.randn(24000 - 13500)
    torch.testing.assert_close(loss(recon, audio, audio_lens), loss(garbage, audio, audio_lens))
    alone = loss(recon[1:, :13500], audio[1:, :9000])
    padded = loss(recon[1:], audio[1:], audio_lens[1:])
    torch.testing.assert_close(padded, alone, rtol=1e-4, atol=1e-6)

    recon = garbage.clone().requires_grad_(True)
    loss(recon, audio, audio_lens).backward()
    assert recon.grad[1, 13500:].abs().max() == 0  # no gradient into the padding
    assert recon.grad[1, :13500].abs().max() > 0


@pytest.mark.parametrize("loss_class", SPECTRAL)
def test_spectral_loss_trains_a_waveform(loss_class):
    """A learnable 24 kHz waveform (starting from noise) moves toward the input under a few Adam steps."""
    torch.manual_seed(0)
    loss = loss_class(sample_rate=24000)
    audio = _speechlike(1, 0.5)
    recon = torch.nn.Parameter(0.05 * torch.randn(1, 12000))
    optimizer = torch.optim.Adam([recon], lr=1e-2)
    values = []
    for _ in range(15):
        optimizer.zero_grad()
        value = loss(recon, audio)
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < 0.8 * values[0], values


def test_spectral_loss_accepts_a_recon_a_few_samples_off_and_checks_shapes():
    loss = MultiScaleMelLoss(sample_rate=24000, window_lengths=(1024,), n_mels=(80,))  # the predecessor's single scale
    audio = _speechlike(2, 0.5)
    recon = resample(audio, 16000, 24000)
    assert loss(recon[:, :-7], audio).item() < 0.05  # decoders round lengths; the tail is cut, not an error
    with pytest.raises(ValueError, match="expected"):
        loss(recon[0], audio)


def test_mel_and_stft_losses_sharing_a_step_s_spectra_give_the_same_values_and_gradients():
    from fcodec.losses.spectral import SpectrumCache

    torch.manual_seed(0)
    mel, stft = MultiScaleMelLoss(), MultiResolutionSTFTLoss()
    audio, lens = 0.1 * torch.randn(3, 16000), torch.tensor([16000, 12000, 8000])
    recon = (0.1 * torch.randn(3, 24000)).requires_grad_()
    alone = 5 * mel(recon, audio, lens) + 2 * stft(recon, audio, lens)
    (grad_alone,) = torch.autograd.grad(alone, recon)
    cache = SpectrumCache()
    shared = 5 * mel(recon, audio, lens, cache=cache) + 2 * stft(recon, audio, lens, cache=cache)
    (grad_shared,) = torch.autograd.grad(shared, recon)
    assert len(cache._values) == 1 + 3  # the prepared signals once, three resolutions once each
    torch.testing.assert_close(shared, alone)
    torch.testing.assert_close(grad_shared, grad_alone)


def test_feature_mse_aligns_masks_and_trains_only_the_decompressed_side():
    loss = FeatureMSELoss()
    feats = torch.randn(2, 10, 16, requires_grad=True)
    assert loss(feats.detach().clone(), feats).item() == 0.0
    qfeats = feats.detach()[:, :9].clone()  # F' = F - 1: cut to the shorter
    assert loss(qfeats, feats).item() == 0.0
    qfeats = (feats.detach() + 1.0).requires_grad_(True)
    lens = torch.tensor([10, 4])
    garbage = qfeats.detach().clone()
    garbage[1, 4:] += 100.0
    value = loss(qfeats, feats, lens)
    assert value.item() == pytest.approx(1.0)
    assert loss(garbage, feats, lens).item() == pytest.approx(1.0)  # padded frames do not count
    value.backward()
    assert qfeats.grad is not None and qfeats.grad[1, 4:].abs().max() == 0
    assert feats.grad is None  # the encoder's features are the target
    with pytest.raises(ValueError):
        loss(torch.randn(2, 10, 8), torch.randn(2, 10, 16))
