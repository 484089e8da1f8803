import math

import pytest
import torch

from fcodec.models import BinarySphericalQuantizer


@pytest.mark.parametrize("size", [2048, 4096, 8192])
def test_token_code_round_trip(size):
    bsq = BinarySphericalQuantizer(size)
    toks = torch.arange(size)
    codes = bsq.toks_to_codes(toks)
    assert codes.shape == (size, int(math.log2(size)))
    assert torch.allclose(codes.abs(), torch.full_like(codes, 1 / math.sqrt(bsq.dim)))
    assert torch.equal(bsq.codes_to_toks(codes), toks)
    assert torch.equal(bsq.codebook, codes)
    # latents -> codes -> tokens agrees with latents -> tokens, and codes are unit norm
    lats = torch.nn.functional.normalize(torch.randn(3, 50, bsq.dim), dim=-1)
    toks, codes = bsq(lats)
    assert torch.equal(bsq.lats_to_toks(lats), toks) and torch.equal(bsq.lats_to_codes(lats), codes)
    assert torch.allclose(codes.norm(dim=-1), torch.ones(3, 50))
    assert toks.dtype == torch.int64 and int(toks.max()) < size


def test_sign_convention_and_bit_order():
    bsq = BinarySphericalQuantizer(8)  # D = 3, first component = most significant bit
    lats = torch.tensor([[0.5, -0.1, 0.0], [-1.0, 2.0, 3.0]])
    assert bsq.lats_to_toks(lats).tolist() == [4, 3]  # an exact 0 is bit 0 / the negative code
    assert (bsq.lats_to_codes(lats)[0, 2] < 0).item()


def test_no_persistent_state_and_bad_size():
    assert BinarySphericalQuantizer(2048).state_dict() == {}
    with pytest.raises(ValueError, match="power of two"):
        BinarySphericalQuantizer(1000)


def test_straight_through_passes_gradient():
    bsq = BinarySphericalQuantizer(2048)
    lats = torch.randn(2, 5, 11, requires_grad=True)
    codes, toks = bsq.straight_through(lats)
    # forward value is the code (up to the rounding of lats + (q - lats)), tokens come from the exact codes
    assert torch.allclose(codes.detach(), bsq.lats_to_codes(lats.detach()), atol=1e-6)
    assert torch.equal(toks, bsq.lats_to_toks(lats))
    codes.sum().backward()
    assert torch.equal(lats.grad, torch.ones_like(lats))
