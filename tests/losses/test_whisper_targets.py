"""Target text formatting and teacher-forcing tensors for the Whisper ASR loss."""

import logging

import pytest
import torch
from whisper.tokenizer import get_tokenizer

from fcodec.losses.whisper_targets import IGNORE_INDEX, WhisperTargets, format_target


@pytest.mark.parametrize(
    "text, language, expected",
    [
        ("BUT IN LESS THAN FIVE MINUTES", "en", " But in less than five minutes."),
        ("I ONLY WISH I'M ALONE I'LL GO", "en", " I only wish I'm alone I'll go."),
        ("THE OLD MAN'S EYES", "en", " The old man's eyes."),
        ("the  old man ", "en", " The old man."),
        ("Hello World, said Mr. Smith!", "en", " Hello World, said Mr. Smith!"),
        ("WHAT DO YOU MEAN SIR?", "en", " What do you mean sir?"),
        ("我们 这 下了 一整天 的 雨", "zh", "我们这下了一整天的雨"),
        ("我们 用 PYTHON 编程", "zh", "我们用 PYTHON 编程"),
        ("   ", "en", ""),
    ],
)
def test_format_target(text, language, expected):
    assert format_target(text, language) == expected


def test_sequences_and_teacher_forcing_layout():
    targets = WhisperTargets(multilingual=True, num_languages=99, n_text_ctx=448)
    en = targets.encode("THE OLD MAN", "en")
    tokenizer = get_tokenizer(True, num_languages=99, language="en", task="transcribe")
    assert en == tokenizer.encode(" The old man.")
    zh = targets.encode("我们 下雨", "zh")
    sequences = [targets.sequence(en, "en"), targets.sequence(zh, "zh")]
    assert sequences[0][:4] == [
        tokenizer.sot,
        tokenizer.to_language_token("en"),
        tokenizer.transcribe,
        tokenizer.no_timestamps,
    ]
    assert sequences[1][1] == tokenizer.to_language_token("zh") and sequences[1][-1] == tokenizer.eot
    inputs, labels = targets.batch(sequences, [4, 4], torch.device("cpu"))
    width = max(len(s) for s in sequences) - 1
    assert inputs.shape == labels.shape == (2, width)
    for seq, inp, lab in zip(sequences, inputs, labels):
        n = len(seq) - 1
        assert inp[:n].tolist() == seq[:-1]
        assert (lab[:3] == IGNORE_INDEX).all()  # the prefix is given, not scored
        assert lab[3:n].tolist() == seq[4:]  # first scored: the first text token after <|notimestamps|>; last: eot
        assert (lab[n:] == IGNORE_INDEX).all()


def test_long_targets_are_cut_to_the_decoder_context_with_a_warning(caplog):
    targets = WhisperTargets(multilingual=True, num_languages=99, n_text_ctx=16)
    with caplog.at_level(logging.WARNING):
        seq = targets.sequence(list(range(1000, 1100)), "en", "cut_x")
    assert len(seq) - 1 == 16 and seq[-1] == targets.tokenizer("en").eot
    assert "cut_x" in caplog.text


def test_language_errors():
    with pytest.raises(ValueError, match="language"):
        WhisperTargets(True, 99, 448).tokenizer("xx")
    with pytest.raises(ValueError, match="English-only"):
        WhisperTargets(False, 0, 448).tokenizer("zh")
