"""Weight schedules, and building a training run's losses from its config and combining them on a model output."""

from dataclasses import dataclass
from typing import Optional

import pytest
import torch

from fcodec.losses import WeightSchedule, resample
from fcodec.losses.combined import CodecLosses, build_losses


def test_constant_and_ramped_weights():
    assert [WeightSchedule(30.0)(s) for s in (0, 10, 10**6)] == [30.0, 30.0, 30.0]
    ramp = WeightSchedule(30.0, start_weight=0.0, ramp_steps=100)
    assert [ramp(s) for s in (0, 25, 50, 100, 1000)] == [0.0, 7.5, 15.0, 30.0, 30.0]
    delayed = WeightSchedule(20.0, start_weight=5.0, ramp_steps=10, start_step=100)
    assert [delayed(s) for s in (0, 99, 100, 105, 110)] == [5.0, 5.0, 5.0, 12.5, 20.0]
    assert WeightSchedule.from_config(2) == WeightSchedule(2.0)
    assert WeightSchedule.from_config({"weight": 30, "start_weight": 0, "ramp_steps": 100}) == ramp
    with pytest.raises(ValueError, match="weight"):
        WeightSchedule.from_config({"ramp_steps": 10})
    with pytest.raises(ValueError, match="ramp_stpes"):
        WeightSchedule.from_config({"weight": 1, "ramp_stpes": 10})
    with pytest.raises(ValueError, match=">= 0"):
        WeightSchedule(1.0, ramp_steps=-1)


@dataclass
class FakeCodecOutput:
    """The fields of fcodec.models' CodecOutput that the losses read (the real model is another branch's)."""

    feats: torch.Tensor
    qfeats: torch.Tensor
    feat_lens: torch.Tensor
    lats: torch.Tensor
    tok_lens: torch.Tensor
    sig: Optional[torch.Tensor]
    sig_lens: torch.Tensor


def _output_and_batch(requires_grad=True):
    generator = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(2, 8000, generator=generator)
    audio_lens = torch.tensor([8000, 6400])
    audio[1, 6400:] = 0
    sig = (resample(audio, 16000, 24000) + 0.01 * torch.randn(2, 12000, generator=generator)).requires_grad_(
        requires_grad
    )
    out = FakeCodecOutput(
        feats=torch.randn(2, 25, 32, generator=generator),
        qfeats=torch.randn(2, 25, 32, generator=generator).requires_grad_(requires_grad),
        feat_lens=torch.tensor([25, 20]),
        lats=torch.nn.functional.normalize(torch.randn(2, 25, 11, generator=generator), dim=-1).requires_grad_(
            requires_grad
        ),
        tok_lens=torch.tensor([25, 20]),
        sig=sig,
        sig_lens=torch.tensor([12000, 9600]),
    )
    batch = {
        "audio": audio,
        "audio_lens": audio_lens,
        "text": ["THE OLD MAN", "我们 这 下了"],
        "language": ["en", "zh"],
        "cut_id": ["en_1", "zh_2"],
    }
    return out, batch


def test_build_and_combine_every_term(tiny_whisper_path, bpe_model, tmp_path):
    config = {
        "feature": {"weight": 1.0},
        "mel": {"weight": 5.0, "window_lengths": [512, 1024], "n_mels": [40, 80]},
        "stft": 2.0,
        "asr": {"weight": 30.0, "start_weight": 0.0, "ramp_steps": 10, "whisper": str(tiny_whisper_path)},
        "ctc": {"weight": 0.5, "bpe_model": str(bpe_model), "hidden_dim": 32},
    }
    losses = build_losses(config, sample_rate=24000, latent_dim=11, exp_dir=tmp_path)
    assert set(losses.terms) == {"feature", "mel", "stft", "asr", "ctc"}
    assert losses.weights(5) == {"feature": 1.0, "mel": 5.0, "stft": 2.0, "asr": 15.0, "ctc": 0.5}
    assert losses.trainable_parameters() == list(losses.terms["ctc"].parameters())
    assert not any(k.startswith("terms.asr") for k in losses.state_dict())  # Whisper is not checkpointed

    out, batch = _output_and_batch()
    total, terms = losses(out, batch, step=0)  # ASR weight 0 at step 0: not computed
    assert set(terms) == {"feature", "mel", "stft", "ctc"}
    total, terms = losses(out, batch, step=5)
    assert set(terms) == {"feature", "mel", "stft", "asr", "ctc"}
    expected = terms["feature"] + 5 * terms["mel"] + 2 * terms["stft"] + 15 * terms["asr"] + 0.5 * terms["ctc"]
    torch.testing.assert_close(total.detach(), expected)
    total.backward()
    assert out.sig.grad is not None and out.qfeats.grad is not None and out.lats.grad is not None
    assert all(p.grad is not None for p in losses.trainable_parameters())


def test_config_errors_name_the_term(tmp_path):
    with pytest.raises(ValueError, match="unknown loss terms"):
        build_losses({"mell": 1.0}, sample_rate=24000)
    with pytest.raises(ValueError, match="losses.mel"):
        build_losses({"mel": {"weight": 1.0, "n_mel": [80]}}, sample_rate=24000)
    with pytest.raises(ValueError, match="latent_dim"):
        build_losses({"ctc": {"weight": 1.0, "bpe_model": "x"}}, sample_rate=24000)
    with pytest.raises(ValueError, match="losses.asr needs"):
        build_losses({"asr": {"weight": 1.0}}, sample_rate=24000)
    assert set(build_losses({"feature": 1.0, "mel": 0, "stft": None}, sample_rate=24000).terms) == {"feature"}
    losses = CodecLosses(
        {"mel": build_losses({"mel": 1.0}, sample_rate=24000).terms["mel"]}, {"mel": WeightSchedule(1.0)}
    )
    out, batch = _output_and_batch(requires_grad=False)
    out.sig = None
    with pytest.raises(ValueError, match="decode=True"):
        losses(out, batch, step=0)


def test_curriculum_ramps_up_holds_then_decays():
    from fcodec.losses.schedule import WeightSchedule

    s = WeightSchedule.curriculum(30.0, ramp_steps=10, decay_start_step=100, decay_steps=50, final_weight=10.0)
    assert [s(0), s(5), s(10), s(99), s(100), s(125), s(150), s(10**9)] == [
        0.0,
        15.0,
        30.0,
        30.0,
        30.0,
        20.0,
        10.0,
        10.0,
    ]
    assert (
        WeightSchedule.from_config(
            {
                "weight": 30.0,
                "start_weight": 0.0,
                "ramp_steps": 10,
                "decay_start_step": 100,
                "decay_steps": 50,
                "final_weight": 10.0,
            }
        )
        == s
    )
    with pytest.raises(ValueError, match="both"):
        WeightSchedule(30.0, decay_start_step=100)
    with pytest.raises(ValueError, match="before the ramp ends"):
        WeightSchedule(30.0, start_weight=0.0, ramp_steps=200, decay_start_step=100, final_weight=1.0)
