"""Tiny random codecs shared by the model tests (built once per session; tests must not modify them)."""
import math

import pytest
import torch

from fcodec.models import FocalCodec, configs, grow


def perturb_constants(model: FocalCodec, seed: int = 1) -> FocalCodec:
    """Move the parameters that start as constants (Snake/DyT alphas, gammas, norms) so tests exercise them."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("alpha", "gamma", "gru_rel_pos_const")) or ("norm" in name and name.endswith("weight")):
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=gen)).add_(0.05 * torch.randn(p.shape, generator=gen))
    return model


def speechlike(batch: int, num_samples: int, seed: int = 0) -> torch.Tensor:
    """Deterministic multi-sine plus noise at amplitude ~0.3."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / 16000
    phases = torch.rand(batch, 4, 1, generator=gen) * 6.28
    freqs = torch.tensor([110.0, 440.0, 1234.0, 3100.0])[None, :, None]
    sines = torch.sin(2 * math.pi * freqs * t + phases).mean(dim=1)
    return (0.3 * sines + 0.05 * torch.randn(batch, num_samples, generator=gen)).float()


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core runner OpenMP's barriers make every
    small op wait for a descheduled thread (milliseconds each): run the model tests single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_causal() -> FocalCodec:
    torch.manual_seed(0)
    return perturb_constants(FocalCodec(**configs.tiny_causal_config())).eval()


@pytest.fixture(scope="session")
def tiny_grown(tiny_causal):
    """(25 Hz, 12.5 Hz) models grown from ``tiny_causal``, new layers perturbed too."""
    g25, _ = grow(tiny_causal, seed=1)
    g12, _ = grow(g25, seed=2)
    return perturb_constants(g25, 2).eval(), perturb_constants(g12, 3).eval()


@pytest.fixture(scope="session")
def tiny_noncausal() -> FocalCodec:
    torch.manual_seed(0)
    return perturb_constants(FocalCodec(**configs.tiny_noncausal_config((2, 1)))).eval()
