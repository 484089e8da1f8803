import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fcodec.data.bad_input import read_report
from fcodec.data.synth.espeak import synthesize
from fcodec.data.synth.mini_corpus import BROKEN_REPORT, MiniCorpusSpec, build_mini_corpus, plan_corpus
from fcodec.data.synth.sentences import make_sentences
from tests.data.helpers import SMALL_SPEC


def test_espeak_speaks_both_languages_the_same_way_every_time():
    for text, voice in [("我们 明天 在 北京 参观 博物馆", "cmn+f2"), ("THE OLD MAN FOUND THE LETTER", "en-us+m3")]:
        pcm, rate = synthesize(text, voice)
        assert 1.0 < len(pcm) / rate < 6.0
        assert np.abs(pcm.astype(np.float32)).max() > 1000  # speech, not silence
        synthesize("SOMETHING ELSE IN BETWEEN", "en-us+f1", rate=200)
        assert np.array_equal(synthesize(text, voice)[0], pcm)
    with pytest.raises(ValueError, match="no voice"):
        synthesize("HELLO", "no-such-voice")


def test_breathy_voices_are_the_same_a_second_later():
    """The f2, f3 and f5 variants add breath noise from eSpeak NG's own generator, which it seeds from the clock
    (in seconds): unless synthesize seeds it, the mini corpus's speakers with these voices change from run to run
    (and the mini recipe's RESULTS.md with them)."""
    voices = ["cmn+f2", "en-us+f3", "en-us+f5"]
    first = [synthesize("THE OLD MAN FOUND THE LETTER 我们 明天", voice, seed=7)[0] for voice in voices]
    time.sleep(1.1)
    for voice, pcm in zip(voices, first):
        assert np.array_equal(synthesize("THE OLD MAN FOUND THE LETTER 我们 明天", voice, seed=7)[0], pcm), voice


def test_sentences_are_distinct_and_word_segmented():
    zh = make_sentences("zh", 300, seed=1)
    en = make_sentences("en", 300, seed=1)
    assert len(set(zh)) == 300 and len(set(en)) == 300
    assert all(" " in s and not re.search(r"[A-Za-z]", s) for s in zh)
    assert all(s == s.upper() and re.fullmatch(r"[A-Z' ]+", s) for s in en)
    assert make_sentences("zh", 5, seed=1) == zh[:5]


def test_corpus_has_the_real_layouts(small_corpus: Path):
    aishell = small_corpus / "aishell" / "data_aishell"
    wavs = sorted((aishell / "wav").rglob("*.wav"))
    assert wavs and all(
        re.fullmatch(r"(train|dev|test)/S\d{4}/BAC009S\d{4}W\d{4}\.wav", str(w.relative_to(aishell / "wav")))
        for w in wavs
    )
    # one line is deliberately not UTF-8 (a Latin-1 byte): see test_broken_report_lists_every_kind_of_breakage
    transcript = (
        (aishell / "transcript" / "aishell_transcript_v0.8.txt")
        .read_bytes()
        .decode("utf-8", errors="replace")
        .splitlines()
    )
    assert all(re.fullmatch(r"BAC009S\d{4}W\d{4}( \S+)*", line) for line in transcript)
    assert sum(len(line.split()) > 3 for line in transcript) > 10  # word-segmented text
    flacs = sorted((small_corpus / "LibriSpeech").rglob("*.flac"))
    assert flacs and all(
        re.fullmatch(
            r"(train-clean-100|dev-clean|test-clean)/(\d+)/(\d+)/\2-\3-\d{4}\.flac",
            str(f.relative_to(small_corpus / "LibriSpeech")),
        )
        for f in flacs
    )
    for trans in (small_corpus / "LibriSpeech").rglob("*.trans.txt"):
        speaker, chapter = trans.parent.parent.name, trans.parent.name
        assert trans.name == f"{speaker}-{chapter}.trans.txt"
    info = sf.info(str(next(p for p in flacs if "090" not in p.name)))
    assert info.samplerate == 16000 and info.channels == 1


def test_corpus_is_deterministic(tmp_path, small_corpus):
    spec = MiniCorpusSpec(seed=0, train_speakers=1, eval_speakers=1, train_utts_per_speaker=2, eval_utts_per_speaker=1)
    a, b = tmp_path / "a", tmp_path / "b"
    build_mini_corpus(a, spec)
    build_mini_corpus(b, spec, num_workers=2)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert [str(f) for f in files_a if (a / f).read_bytes() != (b / f).read_bytes()] == []
    other = plan_corpus(
        MiniCorpusSpec(seed=1, train_speakers=1, eval_speakers=1, train_utts_per_speaker=2, eval_utts_per_speaker=1)
    )
    assert [u.text for u in other] != [u.text for u in plan_corpus(spec)]


def test_broken_report_lists_every_kind_of_breakage(small_corpus):
    rows = read_report(small_corpus / BROKEN_REPORT)
    reasons = {r.reason for r in rows}
    assert reasons == {
        "unreadable",
        "empty",
        "too short",
        "not finite",
        "empty transcript",
        "missing",
        "no transcript",
        "undecodable text",
        "control characters",
    }
    assert {r.source.split(":")[0] for r in rows} == {"aishell", "librispeech"}
    assert any(r.source.endswith("test") or r.source.endswith("test-clean") for r in rows)
    good = plan_corpus(SMALL_SPEC)
    assert not {u.uid for u in good} & {r.id for r in rows}
