"""NISQA v2.0: the published weights reproduce the reference implementation; batching, ranking, safe loading."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from fcodec.metrics.nisqa import (
    NISQA_DIMENSIONS,
    NisqaPredictor,
    UnsupportedNisqaCheckpoint,
)
from fcodec.metrics.nisqa_model import NisqaConfig, NisqaDimModel

# reference_shared_audio.tsv column for each of our dimensions
REFERENCE_COLUMNS = dict(zip(NISQA_DIMENSIONS, ("mos", "noisiness", "discontinuity", "coloration", "loudness")))


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return audio.mean(axis=1), rate  # librosa.load(mono=True) averages the channels


@pytest.fixture(scope="module")
def nisqa(real_nisqa_path) -> NisqaPredictor:
    return NisqaPredictor.from_checkpoint(real_nisqa_path)


@pytest.fixture(scope="module")
def clean_speech(real_audio_dir) -> tuple[list, int]:
    paths = sorted((real_audio_dir / "librispeech-dev-clean" / "84").glob("*.wav"))[:4]
    audios = [read_mono(p) for p in paths]
    assert {rate for _, rate in audios} == {16000}
    return [a for a, _ in audios], 16000


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))],
)
def test_reproduces_reference_on_shared_audio(real_nisqa_path, real_audio_dir, device):
    """All 36 files, all 5 dimensions within 0.01 of what gabrielmittag/NISQA predicts, scored in batches."""
    with open(real_nisqa_path.parent / "reference_shared_audio.tsv", newline="") as f:
        reference = list(csv.DictReader(f, delimiter="\t"))
    assert len(reference) == 36
    shared = real_audio_dir.parent
    by_rate: dict = {}
    for row in reference:
        audio, rate = read_mono(shared / row["file"])
        by_rate.setdefault(rate, []).append((row, audio))
    assert set(by_rate) == {16000, 48000}  # LibriSpeech/MAGICDATA at 16 kHz, VoiceBank at 48 kHz

    judge = NisqaPredictor.from_checkpoint(real_nisqa_path, device=device)
    errors = {dim: [] for dim in NISQA_DIMENSIONS}
    for rate, items in by_rate.items():
        predicted = judge.predict([audio for _, audio in items], rate, batch_size=8)
        assert len(predicted) == len(items)
        for (row, _), scores in zip(items, predicted):
            assert set(scores) == set(NISQA_DIMENSIONS)
            for dim in NISQA_DIMENSIONS:
                errors[dim].append(abs(scores[dim] - float(row[REFERENCE_COLUMNS[dim]])))
    worst = {dim: max(values) for dim, values in errors.items()}
    assert all(len(values) == 36 for values in errors.values())
    assert max(worst.values()) < 0.01, worst


def test_batch_size_does_not_change_scores(nisqa, clean_speech):
    audios, rate = clean_speech
    # lengths that differ a lot, so batches carry much padding
    audios = [audios[0], audios[1][:rate], audios[2], audios[3][: rate * 2]]
    one_by_one = nisqa.predict(audios, rate, batch_size=1)
    together = nisqa.predict(audios, rate, batch_size=len(audios))
    pairs = nisqa.predict(audios, rate, batch_size=2)
    for a, b, c in zip(one_by_one, together, pairs):
        for dim in NISQA_DIMENSIONS:
            assert b[dim] == pytest.approx(a[dim], abs=1e-4)
            assert c[dim] == pytest.approx(a[dim], abs=1e-4)
    assert nisqa.predict(audios, rate) == together  # deterministic in eval mode


def test_clean_speech_ranks_above_the_same_speech_with_white_noise(nisqa, clean_speech):
    audios, rate = clean_speech
    rng = np.random.default_rng(0)
    noisy = []
    for audio in audios:
        noise = rng.standard_normal(audio.shape).astype(np.float32)
        noise *= np.sqrt(np.mean(audio**2) / np.mean(noise**2) / 10 ** (10 / 10))  # 10 dB SNR
        noisy.append(audio + noise)
    clean_scores, noisy_scores = nisqa.predict(audios, rate), nisqa.predict(noisy, rate)
    for clean, dirty in zip(clean_scores, noisy_scores):
        assert clean["mos"] > dirty["mos"] + 0.5, (clean, dirty)
        assert clean["noisiness"] > dirty["noisiness"] + 0.5, (clean, dirty)  # high = not noisy


def test_too_short_waveform_is_nan_and_the_others_are_scored(nisqa, clean_speech):
    audios, rate = clean_speech
    scores = nisqa.predict([audios[0], audios[1][:1000], audios[2]], rate)
    assert all(math.isnan(v) for v in scores[1].values())
    assert scores[0] == pytest.approx(nisqa.predict([audios[0]], rate)[0], abs=1e-4)
    assert all(math.isfinite(v) for v in scores[2].values())


def test_scores_do_not_depend_on_the_batch_with_random_weights():
    """The masking alone (no shared assets needed): a randomly initialised network, utterances of mixed length."""
    torch.manual_seed(0)
    model = NisqaDimModel(NisqaConfig())
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    judge = NisqaPredictor(model)
    rng = np.random.default_rng(1)
    audios = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (4000, 16000, 9000, 30000)]
    alone = [judge.predict([a], 16000)[0] for a in audios]
    together = judge.predict(audios, 16000, batch_size=4)
    for a, b in zip(alone, together):
        assert b == pytest.approx(a, abs=1e-5)
    assert len({round(s["mos"], 5) for s in together}) == 4  # the inputs are told apart


def _create_marker(path: str) -> None:
    Path(path).touch()


class PlantedObject:
    """Unpickling this would call _create_marker: a stand-in for code hidden in a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return _create_marker, (str(self.marker),)


def test_checkpoint_with_a_pickled_object_is_refused_without_unpickling_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "planted.tar"
    torch.save({"args": {"model": "NISQA_DIM"}, "model_state_dict": {}, "extra": PlantedObject(marker)}, path)

    with pytest.raises(UnsupportedNisqaCheckpoint, match="planted.tar") as info:
        NisqaPredictor.from_checkpoint(path)
    assert "refusing to load" in str(info.value)
    assert not marker.exists()
    # the planted object does run code when fully unpickled: the check above can fail
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_missing_or_corrupt_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.tar"):
        NisqaPredictor.from_checkpoint(tmp_path / "nowhere.tar")
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a checkpoint" * 100)
    with pytest.raises(UnsupportedNisqaCheckpoint, match="garbage.tar"):
        NisqaPredictor.from_checkpoint(garbage)


def test_integer_samples_are_refused(nisqa, clean_speech):
    audios, rate = clean_speech
    with pytest.raises(ValueError, match="waveform 0 is int16"):
        nisqa.predict([(audios[0] * 32767).astype(np.int16)], rate)


def test_other_nisqa_variants_are_refused(real_nisqa_path, tmp_path):
    checkpoint = torch.load(real_nisqa_path, map_location="cpu", weights_only=True)
    checkpoint["args"] = dict(checkpoint["args"], model="NISQA", dim=False)  # e.g. weights/nisqa_mos_only.tar
    path = tmp_path / "mos_only.tar"
    torch.save(checkpoint, path)
    with pytest.raises(UnsupportedNisqaCheckpoint, match=r"mos_only\.tar.*NISQA_DIM"):
        NisqaPredictor.from_checkpoint(path)
