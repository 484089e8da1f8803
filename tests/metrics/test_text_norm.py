"""Scoring normalisation: what makes a correct transcript match its reference, in both languages."""

import pytest

from fcodec.metrics.error_rate import edit_counts
from fcodec.metrics.text_norm import error_rate_name, normalize_text, normalize_to_units, text_units
from fcodec.metrics.zh_numbers import arabic_to_chinese, read_value


@pytest.mark.parametrize(
    "number, spoken",
    [
        (0, "零"),
        (2, "二"),
        (10, "十"),
        (15, "十五"),
        (20, "二十"),
        (22, "二十二"),
        (105, "一百零五"),
        (110, "一百一十"),
        (200, "两百"),
        (1010, "一千零一十"),
        (2000, "两千"),
        (10005, "一万零五"),
        (10100, "一万零一百"),
        (11000, "一万一千"),
        (20000, "两万"),
        (110000, "十一万"),
        (100000005, "一亿零五"),
    ],
)
def test_read_value(number, spoken):
    assert read_value(number) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("2019年", "二零一九年"),  # years digit by digit
        ("98年", "九八年"),
        ("15个人", "十五个人"),
        ("3.5%", "百分之三点五"),
        ("50%的人", "百分之五十的人"),
        ("3.14", "三点一四"),
        ("15,000元", "一万五千元"),
        ("007", "零零七"),  # a leading zero: a code, read digit by digit
        ("第1名和第22名", "第一名和第二十二名"),
    ],
)
def test_arabic_to_chinese(text, spoken):
    assert arabic_to_chinese(text) == spoken


def test_traditional_becomes_simplified():
    assert normalize_text("語言識別，臺灣的電腦", "zh") == "语言识别台湾的电脑"


def test_full_width_and_cjk_punctuation_and_spaces_are_removed():
    assert normalize_text("你好，世界！「測試」、《書名》…… 再 見。", "zh") == "你好世界测试书名再见"
    assert normalize_text("（笑）今天［音乐］好", "zh") == "今天好"  # Whisper's bracketed asides


def test_digits_match_spoken_reference():
    # Whisper writes digits (here full width and Traditional), AISHELL writes what was said
    hyp = normalize_to_units("２０１９年有15個人", "zh")
    ref = normalize_to_units("二零一九年有十五个人", "zh")
    assert hyp == ref
    assert edit_counts(ref, hyp).errors == 0


def test_latin_words_inside_chinese_are_single_units():
    units = normalize_to_units("我用iPhone Pro手機打電話", "zh")
    assert units == ["我", "用", "iphone", "pro", "手", "机", "打", "电", "话"]
    # one wrong English word costs one error, not one per letter
    wrong = normalize_to_units("我用iPhone Max手機打電話", "zh")
    assert edit_counts(units, wrong).errors == 1
    # the normalised text keeps the space only between the two Latin words
    assert normalize_text("我用 iPhone Pro 手機", "zh") == "我用iphone pro手机"
    assert text_units("我用iphone pro手机", "zh") == ["我", "用", "iphone", "pro", "手", "机"]


def test_english_uses_whisper_normaliser_and_words():
    ref = normalize_to_units("MISTER SMITH PAID TWENTY FIVE DOLLARS", "en")
    hyp = normalize_to_units("Mr. Smith paid $25.", "en")
    assert hyp == ref
    assert normalize_to_units("But in less than five minutes, the staircase groaned.", "en") == [
        "but",
        "in",
        "less",
        "than",
        "5",
        "minutes",
        "the",
        "staircase",
        "groaned",
    ]
    assert error_rate_name("en") == "WER" and error_rate_name("zh") == "CER"


def test_empty_and_punctuation_only_texts_have_no_units():
    assert normalize_to_units("。，！", "zh") == []
    assert normalize_to_units("...", "en") == []
