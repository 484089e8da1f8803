"""The Whisper judge: a tiny random one for the mechanics, the real whisper-base for what it hears."""

import pytest
import soundfile as sf

from fcodec.metrics.testing import speechlike
from fcodec.metrics.text_norm import normalize_text
from fcodec.metrics.transcribe import WhisperJudge
from fcodec.metrics.transcript_cache import TranscriptCache
from fcodec.utils.whisper import make_tiny_whisper

# what ../shared/models/README.md says whisper-base hears in two of the ../shared/audio clips
README_EN = (
    "librispeech-dev-clean/84/84-121123-0001.wav",
    "But in less than 5 minutes, the staircase groaned beneath an extraordinary weight.",
)
README_ZH = ("magicdata-zh-dev-set/38_5731_20170914195805.wav", "我们这下了一整天的雨,雨还在继续下你们哪里下雨了吗?")


def test_tiny_judge_batches_languages_and_long_audio(tmp_path):
    # a short text context keeps the random model's transcripts (always as long as allowed) cheap
    judge = WhisperJudge(make_tiny_whisper(tmp_path / "tiny.pt", n_text_ctx=48), batch_size=2)
    assert judge.is_random_test_model
    assert judge.identity["sha256"] and judge.identity["dims"]["n_audio_state"] == 64
    audios = [speechlike(1.0, 0), speechlike(2.0, 1), speechlike(1.5, 2), speechlike(31.0, 3)]
    texts = judge.transcribe(audios, ["zh", "en", "zh", "en"])
    assert len(texts) == 4 and all(isinstance(t, str) for t in texts)
    with pytest.raises(ValueError, match="4 audios but 3 languages"):
        judge.transcribe(audios, ["zh", "en", "zh"])
    # the judge's identity changes with its options: cached transcripts cannot leak between setups
    prompted = WhisperJudge(tmp_path / "tiny.pt", prompts={"zh": "以下是普通话的句子。"})
    assert prompted.key != judge.key


def test_transcript_cache_round_trip_and_staleness(tmp_path):
    identity = {"checkpoint": "x.pt", "sha256": "abc"}
    cache = TranscriptCache(tmp_path, "test_set", "key1", identity)
    assert cache.get("u1", "digest-a") is None
    cache.put("u1", "digest-a", "hello")
    cache.save()
    again = TranscriptCache(tmp_path, "test_set", "key1", identity)
    assert again.get("u1", "digest-a") == "hello" and again.hits == 1
    assert again.get("u1", "digest-b") is None  # same id, different audio: a miss, not a stale hit
    other_judge = TranscriptCache(tmp_path, "test_set", "key1", {"checkpoint": "y.pt"})
    assert other_judge.get("u1", "digest-a") is None


@pytest.mark.real_assets
def test_real_whisper_hears_the_readme_transcripts_with_language_forced(real_whisper_path, real_audio_dir):
    judge = WhisperJudge(real_whisper_path, batch_size=4)
    assert not judge.is_random_test_model
    en = sf.read(real_audio_dir / README_EN[0], dtype="float32")[0]
    zh = sf.read(real_audio_dir / README_ZH[0], dtype="float32")[0]
    # the Mandarin clip forced to English is a third item: forcing must change what comes out
    texts = judge.transcribe([en, zh, zh], ["en", "zh", "en"])
    assert normalize_text(texts[0], "en") == normalize_text(README_EN[1], "en")
    assert normalize_text(texts[1], "zh") == normalize_text(README_ZH[1], "zh")
    assert normalize_text(texts[1], "zh") == "我们这下了一整天的雨雨还在继续下你们哪里下雨了吗"
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in texts[2]), texts[2]
