import pytest

from fcodec.data.bpe import load_bpe, train_bpe
from fcodec.data.synth.sentences import make_sentences
from fcodec.data.text_norm import normalize_text


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    zh = [normalize_text(s, "zh") for s in make_sentences("zh", 150, seed=0)]
    en = [normalize_text(s, "en") for s in make_sentences("en", 150, seed=0)]
    lang_dir = tmp_path_factory.mktemp("lang_bpe_700")
    model = train_bpe(zh + en, lang_dir, vocab_size=700, character_coverage=1.0)
    return load_bpe(model), zh, en, lang_dir


def test_special_pieces_follow_the_ctc_convention(bpe):
    sp, *_ = bpe
    assert sp.get_piece_size() == 700
    assert [sp.id_to_piece(i) for i in range(3)] == ["<blk>", "<sos/eos>", "<unk>"]
    assert sp.unk_id() == 2 and sp.bos_id() == -1 and sp.eos_id() == -1


def test_chinese_and_english_encode_to_real_pieces_and_round_trip(bpe):
    sp, zh, en, _ = bpe
    for text in zh[:20] + en[:20]:
        ids = sp.encode(text)
        pieces = [sp.id_to_piece(i) for i in ids]
        assert sp.unk_id() not in ids
        assert not any(p.startswith("<0x") for p in pieces), pieces  # seen characters are pieces, not bytes
        assert sp.decode(ids) == text
    zh_pieces = {p.lstrip("▁") for t in zh[:20] for p in sp.encode(t, out_type=str)}
    assert any(len(p) == 1 and "\u4e00" <= p <= "\u9fff" for p in zh_pieces)  # single characters exist
    assert any(len(p) > 1 and all("\u4e00" <= ch <= "\u9fff" for ch in p) for p in zh_pieces)  # and merges


def test_an_unseen_character_falls_back_to_bytes(bpe):
    sp, *_ = bpe
    text = "我们龘"  # 龘 is in no training sentence
    pieces = sp.encode(text, out_type=str)
    assert "<unk>" not in pieces and sum(p.startswith("<0x") for p in pieces) == 3  # its three UTF-8 bytes
    assert sp.decode(sp.encode(text)) == text


def test_the_training_text_is_kept_beside_the_model(bpe):
    _, zh, en, lang_dir = bpe
    assert (lang_dir / "train_text.txt").read_text(encoding="utf-8").splitlines() == zh + en
    assert sorted(p.name for p in lang_dir.iterdir()) == ["bpe.model", "bpe.vocab", "train_text.txt"]


def test_a_vocabulary_too_small_for_the_characters_is_a_clear_error(tmp_path):
    zh = [normalize_text(s, "zh") for s in make_sentences("zh", 100, seed=0)]
    with pytest.raises(ValueError, match="Choose a vocabulary size that fits"):
        train_bpe(zh, tmp_path, vocab_size=100, character_coverage=1.0)
    with pytest.raises(ValueError, match="no training text"):
        train_bpe(["", "  "], tmp_path, vocab_size=100)
