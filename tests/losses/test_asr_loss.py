"""Whisper ASR loss with the tiny random Whisper: exact value, gradients, frozen judge, padding, training, caching."""

import json

import pytest
import torch
import torch.nn.functional as F
import whisper
from whisper.tokenizer import get_tokenizer

from fcodec.losses import WhisperASRLoss, format_target, resample

TEXTS = ["THE OLD MAN MADE A SIGN", "我们 这 下了 一整天 的 雨", "GO DO YOU HEAR"]
LANGS = ["en", "zh", "en"]


def _batch(seconds=(1.0, 0.6, 0.3), seed=0):
    """(B, N) 24 kHz reconstructions with lengths; the padding holds garbage that must not matter."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([int(s * 24000) for s in seconds])
    recon = 0.1 * torch.randn(len(seconds), int(lengths.max()), generator=generator)
    return recon, lengths


def _reference(model, recon, lengths, texts, languages):
    """The loss computed the plain way, clip by clip, with openai-whisper's own functions and one graph."""
    total, tokens = 0.0, 0
    for clip, n, text, lang in zip(recon, lengths, texts, languages):
        audio16 = resample(clip[: int(n)], 24000, 16000)
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio16))[None]
        tokenizer = get_tokenizer(True, num_languages=model.num_languages, language=lang, task="transcribe")
        prefix = list(tokenizer.sot_sequence_including_notimestamps)
        seq = torch.tensor(prefix + tokenizer.encode(format_target(text, lang)) + [tokenizer.eot])[None]
        logits = model.decoder(seq[:, :-1], model.encoder(mel))
        total = total + F.cross_entropy(logits[0, len(prefix) - 1 :], seq[0, len(prefix) :], reduction="sum")
        tokens += seq.shape[1] - len(prefix)
    return total / tokens


def test_value_and_gradient_equal_a_direct_whisper_computation(tiny_whisper):
    recon, lengths = _batch()
    ref_in = recon.clone().requires_grad_(True)
    expected = _reference(tiny_whisper, ref_in, lengths, TEXTS, LANGS)
    expected.backward()
    for sub_batch_size in (1, 2, 8):
        loss = WhisperASRLoss(tiny_whisper, 24000, sub_batch_size=sub_batch_size)
        ours_in = recon.clone().requires_grad_(True)
        value = loss(ours_in, lengths, LANGS, TEXTS)
        value.backward()
        torch.testing.assert_close(value, expected.detach(), rtol=1e-5, atol=1e-5)
        # the gradient computed sub-batch by sub-batch inside forward is the one a single graph gives
        torch.testing.assert_close(ours_in.grad, ref_in.grad, rtol=1e-4, atol=1e-9)


def test_whisper_stays_frozen_and_out_of_the_module_state(tiny_whisper_path):
    from fcodec.utils.whisper import load_whisper

    tiny_whisper = load_whisper(tiny_whisper_path).train()  # as loaded: trainable parameters
    assert all(p.requires_grad for p in tiny_whisper.parameters())
    before = {k: v.clone() for k, v in tiny_whisper.state_dict().items()}
    loss = WhisperASRLoss(tiny_whisper, 24000)
    assert list(loss.parameters()) == [] and loss.state_dict() == {}
    loss.train()
    assert not tiny_whisper.training
    recon, lengths = _batch()
    recon.requires_grad_(True)
    optimizer = torch.optim.SGD([recon], lr=0.1)
    loss(recon, lengths, LANGS, TEXTS).backward()
    optimizer.step()
    assert all(p.grad is None and not p.requires_grad for p in tiny_whisper.parameters())
    assert all(torch.equal(before[k], v) for k, v in tiny_whisper.state_dict().items())
    assert recon.grad.abs().sum() > 0


def test_padding_is_ignored_and_gets_no_gradient(tiny_whisper):
    loss = WhisperASRLoss(tiny_whisper, 24000)
    recon, lengths = _batch()
    other = recon.clone()
    other[1, int(lengths[1]) :] = 5.0
    torch.testing.assert_close(loss(recon, lengths, LANGS, TEXTS), loss(other, lengths, LANGS, TEXTS))
    recon.requires_grad_(True)
    loss(recon, lengths, LANGS, TEXTS).backward()
    assert recon.grad[1, int(lengths[1]) :].abs().max() == 0


def test_no_grad_evaluation_gives_the_same_value_without_a_graph(tiny_whisper):
    loss = WhisperASRLoss(tiny_whisper, 24000)
    recon, lengths = _batch()
    with torch.no_grad():
        evaluated = loss(recon, lengths, LANGS, TEXTS)
    assert not evaluated.requires_grad
    torch.testing.assert_close(evaluated, loss(recon.requires_grad_(True), lengths, LANGS, TEXTS).detach())


def test_asr_loss_falls_when_a_tiny_generator_trains(tiny_whisper):
    """A tiny conv net turning fixed noise into 24 kHz audio learns, through the frozen Whisper, to lower the CE.

    A random Whisper barely listens (its cross-attention averages 1500 frames, most of them padding), so the fall
    is small in absolute terms; it is steady, and a wrong-signed or missing gradient would not produce it.
    """
    torch.manual_seed(0)
    loss = WhisperASRLoss(tiny_whisper, 24000)
    generator = torch.nn.Sequential(
        torch.nn.Conv1d(1, 16, 9, padding=4), torch.nn.Tanh(), torch.nn.Conv1d(16, 1, 9, padding=4)
    )
    noise = torch.randn(2, 1, 12000)
    lengths = torch.tensor([12000, 9000])
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3)
    values = []
    for _ in range(6):
        optimizer.zero_grad()
        value = loss(generator(noise).squeeze(1), lengths, ["en", "zh"], TEXTS[:2])
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < values[0] - 0.02, values
    assert all(later < earlier + 1e-3 for earlier, later in zip(values, values[1:])), values


def test_faster_windows_run_and_a_full_window_equals_pad30(tiny_whisper):
    recon, lengths = _batch(seconds=(0.5, 1.4))
    batch_window = WhisperASRLoss(tiny_whisper, 24000, encoder_window="batch")
    assert batch_window._window(torch.tensor([22400])) == 200  # 1.4 s -> a 2 s window
    assert torch.isfinite(batch_window(recon, lengths, ["en", "en"], TEXTS[::2]))
    full = WhisperASRLoss(tiny_whisper, 24000, encoder_window=30.0)
    long_recon = 0.1 * torch.randn(1, int(29.6 * 24000))
    torch.testing.assert_close(
        batch_window(long_recon, None, ["en"], TEXTS[:1]), full(long_recon, None, ["en"], TEXTS[:1])
    )


def test_pseudo_labels_are_transcribed_once_and_cached(tiny_whisper, tmp_path):
    path = tmp_path / "exp" / "pseudo_labels.jsonl"
    loss = WhisperASRLoss(tiny_whisper, 24000, targets="pseudo", pseudo_label_path=path, pseudo_label_max_tokens=6)
    generator = torch.Generator().manual_seed(1)
    audio = 0.1 * torch.randn(2, 16000, generator=generator)
    audio_lens = torch.tensor([16000, 12000])
    recon = resample(audio, 16000, 24000)
    first = loss(recon, audio_lens * 3 // 2, ["en", "zh"], cut_ids=["en_a", "zh_b"], audio=audio, audio_lens=audio_lens)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["cut_id"] for r in records] == ["en_a", "zh_b"] and all(r["tokens"] for r in records)
    assert {r["whisper"] for r in records} == {loss.whisper_name}
    # only text tokens: a special token (<|notimestamps|>, a timestamp) would become a training target
    eot = get_tokenizer(tiny_whisper.is_multilingual, num_languages=tiny_whisper.num_languages).eot
    assert all(t < eot for r in records for t in r["tokens"])
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"cut_id": "broken", "tok')  # a crash mid-line: skipped on load, with a warning
    again = WhisperASRLoss(tiny_whisper, 24000, targets="pseudo", pseudo_label_path=path)
    assert len(again.cache) == 2
    # no clean audio needed any more: the labels come from the file
    torch.testing.assert_close(again(recon, audio_lens * 3 // 2, ["en", "zh"], cut_ids=["en_a", "zh_b"]), first)
    with pytest.raises(ValueError, match="no cached pseudo-label"):
        again(recon, None, ["en", "zh"], cut_ids=["en_a", "zh_new"])
    other_rank = WhisperASRLoss(
        tiny_whisper, 24000, targets="pseudo", pseudo_label_path=path, rank=1, pseudo_label_max_tokens=6
    )
    other_rank(recon[:1], None, ["en"], cut_ids=["en_c"], audio=audio[:1])
    assert (tmp_path / "exp" / "pseudo_labels.rank1.jsonl").is_file()
    assert "en_c" in WhisperASRLoss(tiny_whisper, 24000, targets="pseudo", pseudo_label_path=path).cache


def test_argument_errors(tiny_whisper, tmp_path):
    with pytest.raises(ValueError, match="targets"):
        WhisperASRLoss(tiny_whisper, targets="oracle")
    with pytest.raises(ValueError, match="pseudo_label_path"):
        WhisperASRLoss(tiny_whisper, targets="pseudo")
    with pytest.raises(ValueError, match="encoder_window"):
        WhisperASRLoss(tiny_whisper, encoder_window=45.0)
    with pytest.raises(FileNotFoundError, match="neither a file"):
        WhisperASRLoss(tmp_path / "missing.pt")
    loss = WhisperASRLoss(tiny_whisper, 24000)
    with pytest.raises(ValueError, match="one text per clip"):
        loss(torch.zeros(2, 2400), None, ["en", "en"], ["only one"])
    with pytest.raises(ValueError, match="language"):
        loss(torch.zeros(1, 2400), None, ["xx"], ["text"])


def test_module_moves_whisper_with_it(tiny_whisper_path):
    loss = WhisperASRLoss(tiny_whisper_path, 24000)
    assert torch.isfinite(loss(0.1 * torch.randn(1, 4800), None, ["en"], ["HELLO"]))
    loss.half()  # .to()/.half()/.cuda() reach the unregistered Whisper
    assert next(loss.whisper.parameters()).dtype == torch.float16
