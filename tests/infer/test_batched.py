"""Batched, one-at-a-time and chunk-by-chunk encode/decode agree exactly (fcodec.infer.batched)."""

import math

import pytest
import torch

from fcodec.infer.batched import duration_batches, encode_decode, num_tokens, padded_length
from fcodec.infer.stream_run import stream_signal
from tests.infer.conftest import LENGTHS, speechlike

CAUSAL = ["50hz", "25hz", "12hz"]


def signals(lengths=LENGTHS):
    return [torch.from_numpy(speechlike(n, seed=i)) for i, n in enumerate(lengths)]


@pytest.mark.parametrize("name", CAUSAL)
def test_lengths_follow_the_input(codecs, name):
    model = codecs[name]
    for result, n in zip(encode_decode(model, signals()), LENGTHS):
        assert result.tokens.shape == (math.ceil(n / model.hop_samples),)
        assert result.tokens.dtype == torch.int64
        assert result.audio.shape == (n * 24000 // 16000,)  # as upstream's forward and the streaming path
        assert int(result.tokens.min()) >= 0 and int(result.tokens.max()) < model.codebook_size
    # the command-line streamer (fcodec.bin.stream) gives the same length as the decoder
    for sig, n in zip(signals(), LENGTHS):
        assert stream_signal(model, sig[None])[1].shape[-1] == model.output_length(n) == n * 24000 // 16000
    assert padded_length(model, 1281) == 2560 and padded_length(model, 1280) == 1280
    assert num_tokens(model, 1) == 1 and model.output_length(3) == 4


@pytest.mark.parametrize("name", CAUSAL)
def test_batched_equals_one_at_a_time(codecs, name):
    model = codecs[name]
    sigs = signals()
    batched = encode_decode(model, sigs)
    for sig, together in zip(sigs, batched):
        (alone,) = encode_decode(model, [sig])
        assert torch.equal(alone.tokens, together.tokens)
        torch.testing.assert_close(alone.audio, together.audio, rtol=0, atol=1e-5)
    # and in another grouping and order
    regrouped = encode_decode(model, sigs[::-2])
    for i, result in zip(range(len(sigs) - 1, -1, -2), regrouped):
        assert torch.equal(result.tokens, batched[i].tokens)
        torch.testing.assert_close(result.audio, batched[i].audio, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CAUSAL)
def test_streaming_tokens_equal_offline(codecs, name):
    model = codecs[name]
    sigs = signals()
    offline = encode_decode(model, sigs)
    streamed = encode_decode(model, sigs, streaming=True)
    for a, b in zip(offline, streamed):
        assert torch.equal(a.tokens, b.tokens)
        torch.testing.assert_close(a.audio, b.audio, rtol=0, atol=1e-4)


def test_reconstruction_is_the_decoded_tokens(codecs):
    """What is stored (the tokens) is what made the audio: decoding them again gives the same reconstruction
    wherever the tokens' chunks are complete."""
    model = codecs["50hz"]
    sig = signals([1280 * 10])[0]
    (result,) = encode_decode(model, [sig])
    with torch.inference_mode():
        again = model.toks_to_sig(result.tokens[None])[0]
    torch.testing.assert_close(again, result.audio, rtol=0, atol=1e-5)


def test_noncausal_runs_alone(codecs):
    model = codecs["noncausal"]
    sig = signals([12345])[0]
    (result,) = encode_decode(model, [sig])
    assert result.audio.shape[-1] == model.output_length(12345)
    assert result.tokens.shape[-1] == num_tokens(model, 12345)
    with pytest.raises(ValueError, match="non-causal"):
        encode_decode(model, signals([8000, 9000]))
    with pytest.raises(ValueError, match="causal"):
        encode_decode(model, [sig], streaming=True)


def test_empty_signal_is_refused(codecs):
    with pytest.raises(ValueError, match="empty"):
        encode_decode(codecs["50hz"], [torch.zeros(0)])


def test_duration_batches(codecs):
    model = codecs["50hz"]
    lengths = [16000 * s for s in (2, 10, 3, 9, 1, 4)]
    groups = duration_batches(model, lengths, max_duration=20.0, max_batch_size=3)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        longest = max(padded_length(model, lengths[i]) for i in group) / 16000
        assert longest * len(group) <= 20.0 and len(group) <= 3
        assert lengths[group[0]] == max(lengths[i] for i in group)  # longest first
    assert groups[0] == [1, 3]  # 10 s + 9 s; a third would make 3 x 10.08 s of padded audio
    assert duration_batches(model, lengths, 1.0, 8) == [[i] for i in (1, 3, 5, 2, 0, 4)]  # an item always fits
    assert all(len(g) == 1 for g in duration_batches(codecs["noncausal"], lengths, 100.0, 8))
