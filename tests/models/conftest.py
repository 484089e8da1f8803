"""Tiny random codecs shared by the model tests (built once per session; tests must not modify them)."""

import pytest
import torch

from fcodec.models import FocalCodec, configs, grow
from fcodec.models.testing import perturb_constants, speechlike  # noqa: F401  (tests import them from here)


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
