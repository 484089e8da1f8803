"""CTC head loss on the pre-quantisation latents: blank conventions, gradients, masks, learning a fixed batch."""

import pytest
import torch

from fcodec.losses import CTCHeadLoss
from tests.losses.conftest import BILINGUAL_TEXT

TEXTS = [BILINGUAL_TEXT[0], BILINGUAL_TEXT[4], BILINGUAL_TEXT[2], BILINGUAL_TEXT[5]]


def _latents(batch=4, frames=60, dim=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    lats = torch.nn.functional.normalize(torch.randn(batch, frames, dim, generator=generator), dim=-1)
    return lats, torch.tensor([frames, frames - 10, frames - 5, frames - 20])[:batch]


def test_blank_follows_the_bpe_models_layout(bpe_model, bpe_model_plain):
    icefall = CTCHeadLoss(bpe_model, input_dim=16)
    assert icefall.blank_id == 0 and icefall.sp.id_to_piece(0) == "<blk>"
    assert icefall.num_classes == icefall.sp.get_piece_size()
    plain = CTCHeadLoss(bpe_model_plain, input_dim=16)
    assert plain.blank_id == plain.sp.get_piece_size() and plain.num_classes == plain.blank_id + 1
    assert all(plain.blank_id not in units for units in plain.encode(TEXTS))
    with pytest.raises(FileNotFoundError, match="stage 3"):
        CTCHeadLoss("data/lang_bpe_500/missing.model", input_dim=16)


def test_gradients_reach_the_latents_and_the_head_not_the_padding(bpe_model):
    loss = CTCHeadLoss(bpe_model, input_dim=16, hidden_dim=32, dropout=0.0)
    lats, lens = _latents()
    lats.requires_grad_(True)
    garbage = lats.detach().clone()
    garbage[3, int(lens[3]) :] = 10.0
    value = loss(lats, lens, TEXTS)
    value.backward()
    assert torch.isfinite(value) and value > 0
    assert lats.grad[3, : int(lens[3])].abs().sum() > 0 and lats.grad[3, int(lens[3]) :].abs().max() == 0
    assert all(p.grad is not None for p in loss.parameters())
    torch.testing.assert_close(loss(garbage, lens, TEXTS), value.detach())  # padding does not leak through convs


def test_ctc_head_learns_a_fixed_batch(bpe_model):
    """Trained with the latents (a stand-in for the compressor), the head transcribes the batch exactly."""
    torch.manual_seed(0)
    loss = CTCHeadLoss(bpe_model, input_dim=16, hidden_dim=64, num_layers=2, dropout=0.0)
    lats, lens = _latents()
    lats = torch.nn.Parameter(lats)
    optimizer = torch.optim.Adam([lats, *loss.parameters()], lr=1e-2)
    first = None
    for _ in range(100):
        optimizer.zero_grad()
        value = loss(lats, lens, TEXTS)
        value.backward()
        optimizer.step()
        first = value.item() if first is None else first
    assert value.item() < 0.1 * first, (first, value.item())
    assert loss.greedy_decode(lats, lens) == TEXTS


def test_too_few_frames_add_zero_and_upsampling_makes_room(bpe_model, caplog):
    lats, _ = _latents(batch=2, frames=4)
    lens = torch.tensor([4, 4])
    loss = CTCHeadLoss(bpe_model, input_dim=16)
    value = loss(lats, lens, TEXTS[:2])
    assert torch.isfinite(value) and loss.last_infeasible == 2 and "more BPE units than frames" in caplog.text
    roomy = CTCHeadLoss(bpe_model, input_dim=16, upsample=8)
    assert torch.isfinite(roomy(lats, lens, TEXTS[:2])) and roomy.last_infeasible == 0
