import pytest

from fcodec.data.text_norm import normalize_en, normalize_text, normalize_zh


def test_chinese_is_aishell_style():
    # lhotse's AISHELL text: word segmentation spaces removed
    assert normalize_zh("而 对 楼市 成交 抑制 作用 最 大 的 限 购") == "而对楼市成交抑制作用最大的限购"
    # full-width letters and punctuation, Traditional characters, lower-case Latin
    assert normalize_zh("我用ｉＰｈｏｎｅ手機，你呢？") == "我用IPHONE手机你呢"
    assert normalize_zh("他说：“好的！”") == "他说好的"
    assert normalize_zh("電腦和軟體") == "电脑和软体"


def test_chinese_has_no_spaces_at_all():
    assert normalize_zh("hello world 你好 ok") == "HELLO WORLD你好OK"  # two Latin words stay two words
    assert normalize_zh("买了 iphone  pro 和 mp3 player") == "买了IPHONE PRO和MP3 PLAYER"
    assert normalize_zh("我 有 3 个 APP 和 2 台 PC") == "我有3个APP和2台PC"
    assert normalize_zh("IT'S 我的") == "IT'S我的"


def test_chinese_matches_lhotse_aishell_text_normalize():
    from lhotse.recipes.aishell import text_normalize

    # lhotse's prepare_aishell: its text_normalize, then every space removed
    for line in ["而 对 楼市 成交 抑制 作用 最 大 的 限 购", "ａｂｃ 三 个 字母", "一 个 ｋｔ 包间 ok"]:
        assert normalize_zh(line) == text_normalize(line).replace(" ", "")
    # ... except between two Latin words, where lhotse would glue them into one word and we keep the space
    assert normalize_zh("ａ ｂ ｃ 三 个 字母") == "A B C三个字母"
    assert text_normalize("ａ ｂ ｃ 三 个 字母").replace(" ", "") == "ABC三个字母"
    # lhotse maps only five full-width letters; every full-width form becomes half-width here
    assert normalize_zh("一 个 ｋｔｖ 包间") == "一个KTV包间"


def test_english_is_librispeech_style():
    assert normalize_en("Don't stop-me now, Mr. Smith!") == "DON'T STOP ME NOW MR SMITH"
    assert normalize_en("  'quoted'   words’s ") == "QUOTED WORDS'S"
    assert normalize_en("ｆｕｌｌ width 123") == "FULL WIDTH 123"


def test_normalisation_is_idempotent_on_corpus_text():
    librispeech = "HARANGUE THE TIRESOME PRODUCT OF A TIRELESS TONGUE AND DON'T"
    aishell = "而对楼市成交抑制作用最大的限购"
    assert normalize_en(librispeech) == librispeech
    assert normalize_zh(aishell) == aishell
    assert normalize_text(normalize_text(" Hello,  WORLD ", "en"), "en") == "HELLO WORLD"


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="no text normalisation for language 'fr'"):
        normalize_text("bonjour", "fr")
