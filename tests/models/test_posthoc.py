"""Post-hoc bottlenecks: the advertised bitrate, streaming equal to offline, the bit round trip, one-line errors,
and a calibrated bit choice that beats random choices on real speech with a full-size model."""

import itertools
import re
import statistics

import pytest
import torch

from fcodec.data.audio import read_mono
from fcodec.infer.batched import encode_decode
from fcodec.infer.posthoc import calibration_latents
from fcodec.infer.stream_run import stream_signal
from fcodec.models import FocalCodec, configs
from fcodec.models.posthoc import PRESETS, PosthocError, choose_bits, latent_error, parse_preset, with_posthoc
from tests.models.conftest import speechlike

ALL = PRESETS + ("50hz_keep2_6bit_150bps", "50hz_keep4_1bit_12.5bps")


@pytest.fixture(scope="module")
def choices(tiny_causal):
    """A calibrated bit choice per preset, on speech-like signals (the choice itself is checked on real speech)."""
    out = {}
    for name in ALL:
        preset = parse_preset(name)
        if preset.bits:
            lats = calibration_latents(tiny_causal, list(speechlike(3, 12800, seed=5)), preset.keep)
            out[name] = choose_bits(lats, preset.bits)
    return out


@pytest.mark.parametrize("name", ALL)
def test_a_preset_gives_its_advertised_bitrate(tiny_causal, choices, name):
    model = with_posthoc(tiny_causal, name, choices.get(name))
    advertised = float(name.split("_")[-1][:-3])
    assert model.bitrate == advertised
    # measured: tokens per second of a 2.56 s signal times the bits per token
    sig = speechlike(1, 40960, seed=1)
    (result,) = encode_decode(model, list(sig))
    bits = (model.codebook_size - 1).bit_length()
    assert model.codebook_size == 2**bits and int(result.tokens.max()) < model.codebook_size
    assert result.tokens.numel() / 2.56 * bits == advertised
    assert result.audio.shape[-1] == tiny_causal.output_length(40960)


@pytest.mark.parametrize("name", ALL)
def test_streaming_equals_offline_under_a_preset(tiny_causal, choices, name):
    model = with_posthoc(tiny_causal, name, choices.get(name))
    # lengths off the chunk grid: the last group of a keep-k preset is partial
    for length in (12345, 9001, 20480):
        sig = speechlike(1, length, seed=length)
        with torch.no_grad():
            offline_toks = model.sig_to_toks(sig)
            offline = model.toks_to_sig(offline_toks, output_length=model.output_length(length))
        toks, audio, _ = stream_signal(model, sig, chunk_samples=1000)  # pushes of any size, buffered to chunks
        assert torch.equal(toks, offline_toks), (name, length)
        assert audio.shape == offline.shape
        torch.testing.assert_close(audio, offline, rtol=0, atol=1e-5)


def test_a_keep_preset_on_a_grown_25hz_model_streams_too(tiny_grown):
    g25, _ = tiny_grown
    model = with_posthoc(g25, "25hz_keep2_137.5bps")
    sig = speechlike(2, 15000, seed=3)
    offline = encode_decode(model, list(sig))
    streamed = encode_decode(model, list(sig), streaming=True)
    for a, b in zip(offline, streamed):
        assert torch.equal(a.tokens, b.tokens) and a.tokens.numel() == -(-15000 // 1280)
        torch.testing.assert_close(a.audio, b.audio, rtol=0, atol=1e-5)


def test_sent_tokens_keep_their_bits_and_dropped_bits_take_their_fill(tiny_causal, choices):
    model = with_posthoc(tiny_causal, "50hz_keep2_6bit_150bps", choices["50hz_keep2_6bit_150bps"])
    choice = model.choice
    full = torch.randint(0, 2048, (3, 16), generator=torch.Generator().manual_seed(0))
    sent = model.reduce(full)
    assert sent.shape == (3, 8) and int(sent.max()) < 64
    expanded = model.expand(sent)
    assert expanded.shape == (3, 16)
    bits = lambda t: [(t >> (10 - k)) & 1 for k in range(11)]  # noqa: E731  (bit k, most significant first)
    for k, (kept, got) in enumerate(zip(bits(full[:, ::2].repeat_interleave(2, -1)), bits(expanded))):
        expected = kept if k in choice.kept else torch.full_like(kept, choice.fill[k])
        assert torch.equal(got, expected), k
    assert torch.equal(model.reduce(expanded), sent)  # what is sent survives a decode and a re-encode


def test_bad_presets_are_one_line_errors(tiny_causal, tiny_grown, choices):
    cases = [
        (tiny_causal, "50hz_half_275bps", None, "unknown post-hoc preset"),
        (tiny_causal, "50hz_keep1_550bps", None, "reduces nothing"),
        (tiny_causal, "50hz_6bit_250bps", None, "advertises 250 bps but gives 300 bps"),
        (tiny_causal, "50hz_keep2_250bps", None, "advertises 250 bps but gives 275 bps"),
        (tiny_causal, "50hz_keep2_137.5bps", None, "not a whole number of bits per token"),
        (tiny_causal, "50hz_12bit_600bps", None, "is not below the model's bitrate (550 bps"),
        (tiny_grown[0], "50hz_keep2_275bps", None, "is for a 50 Hz model; this one is 25 Hz"),
        (tiny_grown[1], "12.5hz_keep2_68.75bps", None, "does not divide the 1 tokens"),
        (tiny_causal, "50hz_6bit_300bps", None, "calibrate the bit choice first"),
        (tiny_causal, "50hz_3bit_150bps", choices["50hz_6bit_300bps"], "keeps 6 of 11 bits, not 3 of 11"),
    ]
    for model, name, choice, message in cases:
        with pytest.raises(PosthocError, match=re.escape(message)) as info:
            with_posthoc(model, name, choice)
        assert "\n" not in str(info.value), name
    with pytest.raises(PosthocError, match="no speech"):
        choose_bits(torch.zeros(0, 11), 3)


# held-out evaluation: the choice is made on some speakers and judged on others
CALIBRATION = (
    "librispeech-dev-clean/84/84-121123-0001.wav",
    "magicdata-zh-dev-set/38_5731_20170914195805.wav",
    "voicebank-noisy-testset/p257_003.wav",
)
EVALUATION = (
    "librispeech-dev-clean/84/84-121123-0013.wav",
    "magicdata-zh-dev-set/5_1812_20170628135856.wav",
    "voicebank-noisy-testset/p226_006.wav",
)


@pytest.mark.real_assets
def test_calibrated_bits_beat_random_bits_on_real_speech_full_size(real_audio_dir):
    torch.manual_seed(0)
    model = FocalCodec(**configs.causal_config()).eval()
    torch.set_num_threads(2)

    def latents(clips):
        signals = [torch.from_numpy(read_mono(real_audio_dir / clip, 16000))[: 16000 * 5 // 2] for clip in clips]
        return calibration_latents(model, signals)

    calibration, evaluation = latents(CALIBRATION), latents(EVALUATION)
    for bits in (3, 6):
        choice = choose_bits(calibration, bits)
        error = latent_error(evaluation, choice.kept, choice.fill)
        # every subset of the same size, with the same fill values for the bits it drops
        others = [latent_error(evaluation, s, choice.fill) for s in itertools.combinations(range(11), bits)]
        beaten = sum(error < other for other in others) / len(others)
        print(f"{bits} bits {choice.kept}: error {error:.4f}, random {statistics.mean(others):.4f}, beats {beaten:.3f}")
        assert error < 0.9 * statistics.mean(others)
        assert beaten >= 0.9
