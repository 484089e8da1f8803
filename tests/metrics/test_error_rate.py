"""Edit counts, both protocols and the hallucination count, against hand computations and jiwer."""

import random

import jiwer
import pytest

from fcodec.metrics.asr_protocols import (
    UtteranceUnits,
    against_truth,
    corpus_protocol,
    hallucinations,
    per_utterance_protocol,
)
from fcodec.metrics.error_rate import EditCounts, corpus_counts, edit_counts, is_hallucination
from fcodec.metrics.error_stats import format_alignment

WORDS = "the a of cat dog sat on mat ran far near house tree big small red".split()


def random_sentence(rng: random.Random, low: int = 1, high: int = 12):
    return [rng.choice(WORDS) for _ in range(rng.randint(low, high))]


def test_hand_computed_alignment():
    ref, hyp = "a b c d".split(), "a x c d e".split()
    assert edit_counts(ref, hyp) == EditCounts(ins=1, dels=0, subs=1, ref_len=4)
    assert format_alignment(ref, hyp) == "a (b->x) c d (*->e)"
    assert edit_counts("the cat sat".split(), "cat sat".split()) == EditCounts(ins=0, dels=1, subs=0, ref_len=3)
    assert format_alignment("the cat sat".split(), "cat sat".split()) == "(the->*) cat sat"
    # consecutive errors are shown as one run, as icefall does
    assert format_alignment("a b c d".split(), "a x y d".split()) == "a (b c->x y) d"
    assert edit_counts([], ["x"]).rate != edit_counts([], ["x"]).rate  # NaN: no reference, no rate


def test_transcripts_against_themselves_score_zero():
    rng = random.Random(0)
    utts = []
    for i in range(30):
        sentence = random_sentence(rng)
        utts.append(UtteranceUnits(f"u{i}", "en", random_sentence(rng), sentence, list(sentence)))
    assert corpus_protocol(utts)["d_err_pct"] == 0.0
    assert corpus_protocol(utts)["errors"] == 0
    # the predecessor's subtractive error is also 0 when the two transcripts agree, whatever the ground truth
    assert per_utterance_protocol(utts)["d_err_mean_pct"] == 0.0


def test_corpus_wer_equals_jiwer_on_random_pairs():
    rng = random.Random(1)
    refs = [random_sentence(rng) for _ in range(200)]
    hyps = [
        random_sentence(rng, 0, 14)
        if rng.random() < 0.5
        else [w if rng.random() < 0.8 else rng.choice(WORDS) for w in ref]
        for ref in refs
    ]
    counts = corpus_counts(zip(refs, hyps))
    expected = jiwer.wer([" ".join(r) for r in refs], [" ".join(h) for h in hyps])
    assert counts.rate == pytest.approx(expected, abs=1e-12)
    # and per utterance
    for ref, hyp in list(zip(refs, hyps))[:50]:
        assert edit_counts(ref, hyp).rate == pytest.approx(jiwer.wer(" ".join(ref), " ".join(hyp)))


def test_protocols_by_hand():
    utts = [
        # 4 ground-truth words; original perfect, reconstruction one substitution
        UtteranceUnits("u1", "en", "a b c d".split(), "a b c d".split(), "a b x d".split()),
        # 2 ground-truth words; original one deletion, reconstruction perfect
        UtteranceUnits("u2", "en", "e f".split(), "e".split(), "e f".split()),
    ]
    # corpus: reconstruction vs original transcript, corpus level: (1 sub + 1 ins) / (4 + 1)
    paper = corpus_protocol(utts)
    assert (paper["subs"], paper["ins"], paper["ref_len"]) == (1, 1, 5)
    assert paper["d_err_pct"] == pytest.approx(40.0)
    # predecessor: mean of (25 - 0) and (0 - 50)
    pred = per_utterance_protocol(utts)
    assert pred["d_err_mean_pct"] == pytest.approx(-12.5)
    assert pred["d_err_median_pct"] == pytest.approx(-12.5)
    truth = against_truth(utts)
    assert truth["original"]["rate_pct"] == pytest.approx(100 * 1 / 6)
    assert truth["reconstruction"]["rate_pct"] == pytest.approx(100 * 1 / 6)


def test_hallucination_count():
    assert is_hallucination(EditCounts(ins=3, ref_len=4))  # 3 > 2
    assert not is_hallucination(EditCounts(ins=2, ref_len=4))  # exactly half is not
    utts = [
        UtteranceUnits("ok", "en", "a b c d".split(), "a b c d".split(), "a b c d".split()),
        UtteranceUnits("loop", "en", "a b".split(), "a b".split(), "a b thank you for watching".split()),
    ]
    assert hallucinations(utts) == {"original": [], "reconstruction": ["loop"]}
