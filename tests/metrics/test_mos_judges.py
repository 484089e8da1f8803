"""The MOS judges and the speaker similarity on real speech (DNSMOS against speechmos: test_dnsmos_torch.py): clean speech
ranks above the same speech with noise for every MOS judge; a voice is more like itself than another speaker's; a
judge that cannot be loaded is one line, and the others load."""

import logging
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from fcodec.metrics.mos import load_mos_judges

SPEAKER_84 = ("84-121123-0001.wav", "84-121123-0005.wav", "84-121123-0008.wav")
SPEAKER_251 = "251-118436-0003.wav"


def read(path):
    audio, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    return audio


def with_noise(audio, snr_db, seed=0):
    noise = np.random.default_rng(seed).standard_normal(len(audio)).astype(np.float32)
    scale = np.sqrt(np.mean(audio**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return np.clip(audio + scale * noise, -1.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def speech(real_audio_dir):
    """Three utterances of speaker 84 (2.1 s, 4.0 s, 13.7 s: one, several and many DNSMOS windows), one of 251."""
    root = real_audio_dir / "librispeech-dev-clean"
    return [read(root / "84" / name) for name in SPEAKER_84], read(root / SPEAKER_251)


@pytest.mark.real_assets
def test_every_mos_judge_ranks_clean_speech_above_noisy(speech, real_nisqa_path):
    judges, skipped = load_mos_judges(["nisqa", "dnsmos"], nisqa_model=real_nisqa_path)
    assert [j.name for j in judges] == ["nisqa", "dnsmos"] and skipped == {}
    clean = list(speech[0][:2])
    noisy = [with_noise(clip, 5.0, seed) for seed, clip in enumerate(clean)]
    for judge in judges:
        scores = judge.predict(clean + noisy, 16000, batch_size=4)
        assert set(scores[0]) == set(judge.dimensions)
        headline = judge.dimensions[0]
        for c, n in zip(scores[:2], scores[2:]):
            assert c[headline] > n[headline] + 0.3, (judge.name, c, n)
        if judge.name == "nisqa":  # what white noise does is what NISQA's noisiness dimension says
            assert all(c["noisiness"] > n["noisiness"] + 0.5 for c, n in zip(scores[:2], scores[2:]))


@pytest.mark.real_assets
def test_speaker_similarity_same_voice_above_another_and_batched_as_resemblyzer(speech):
    from fcodec.metrics.speaker_similarity import SpeakerEncoder, cosine_similarity

    same, other = speech
    encoder = SpeakerEncoder()
    clips = [same[0], same[1], with_noise(same[0], 5.0), other]
    embeddings = encoder.embed(clips, 16000, batch_size=2)
    # the batched embeddings are Resemblyzer's own, utterance by utterance
    from resemblyzer import preprocess_wav

    for clip, embedding in zip(clips, embeddings):
        assert np.allclose(embedding, encoder.encoder.embed_utterance(preprocess_wav(clip)), atol=1e-5)
    same_voice = cosine_similarity(embeddings[0], embeddings[1])
    another_voice = cosine_similarity(embeddings[0], embeddings[3])
    noisy_self = cosine_similarity(embeddings[0], embeddings[2])
    assert same_voice > another_voice + 0.05 and noisy_self > another_voice
    assert math.isnan(cosine_similarity(encoder.embed([np.zeros(16000, np.float32)], 16000)[0], embeddings[0]))


def test_a_missing_judge_is_one_line_and_the_others_load(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        judges, skipped = load_mos_judges(["nisqa", "dnsmos"], nisqa_model=tmp_path / "models" / "nisqa.tar")
    assert [j.name for j in judges] == ["dnsmos"] and list(skipped) == ["nisqa"]
    assert skipped["nisqa"].startswith("MOS judge nisqa skipped: weights") and "fetch_mos" in skipped["nisqa"]
    lines = [r.getMessage() for r in caplog.records if "nisqa" in r.getMessage()]
    assert lines == [skipped["nisqa"]]  # one line
    # a corrupt weights file is skipped the same way, naming the file
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a checkpoint")
    judges, skipped = load_mos_judges(["nisqa"], nisqa_model=bad)
    assert judges == [] and str(bad) in skipped["nisqa"]
    with pytest.raises(ValueError, match="unknown MOS judge"):
        load_mos_judges(["nisqa", "pesq"])


@pytest.mark.parametrize("damage", ["nan_weight", "wrong_shape"])
def test_weights_that_load_but_cannot_score_skip_their_judge_in_one_line(tmp_path, real_nisqa_path, damage, caplog):
    checkpoint = torch.load(real_nisqa_path, map_location="cpu", weights_only=True)
    state = checkpoint["model_state_dict"]
    name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() >= 2)
    if damage == "nan_weight":  # as a flipped exponent bit: loads, scores NaN for everything
        state[name] = torch.full_like(state[name], float("nan"))
    else:
        state[name] = state[name][..., :1].clone()
    bad = tmp_path / "nisqa.tar"
    torch.save(checkpoint, bad)
    with caplog.at_level(logging.WARNING):
        judges, skipped = load_mos_judges(["nisqa"], nisqa_model=bad)
    assert judges == [] and skipped["nisqa"].startswith("MOS judge nisqa skipped")
    assert "\n" not in skipped["nisqa"] and [r.getMessage() for r in caplog.records] == [skipped["nisqa"]]


def test_utmos_is_not_a_default_judge():
    from fcodec.bin.score import get_parser
    from fcodec.metrics.mos import DEFAULT_MOS_JUDGES

    assert "utmos" not in DEFAULT_MOS_JUDGES
    args = get_parser().parse_args(["--ref-cuts", "c", "--decode-dir", "d", "--out-dir", "o", "--asr-models", "x"])
    assert args.mos_judges == ["nisqa", "dnsmos"]


@pytest.mark.real_assets
def test_a_process_loads_each_judge_once_until_its_weights_change(tmp_path, real_nisqa_path):
    import os
    import shutil

    weights = tmp_path / "nisqa.tar"
    shutil.copyfile(real_nisqa_path, weights)
    first, _ = load_mos_judges(["nisqa", "dnsmos"], nisqa_model=weights)
    again, _ = load_mos_judges(["nisqa", "dnsmos"], nisqa_model=weights)
    assert [a is b for a, b in zip(first, again)] == [True, True]
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the file replaced since: loaded anew
    changed, _ = load_mos_judges(["nisqa"], nisqa_model=weights)
    assert changed[0] is not first[0]
