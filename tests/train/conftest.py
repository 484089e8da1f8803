import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; it also keeps results independent of the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    """A tiny random codec in the published format, mini-recipe-like speech cuts and a BPE model."""
    from fcodec.data.bpe import train_bpe
    from fcodec.models import FocalCodec
    from fcodec.models.configs import tiny_causal_config
    from tests.train.speech import make_speech_cuts

    root = tmp_path_factory.mktemp("codec_assets")
    torch.manual_seed(0)
    FocalCodec(**tiny_causal_config()).save_pretrained(root / "codec")
    train = make_speech_cuts(root / "wav_train", per_language=6, seed=0)
    dev = make_speech_cuts(root / "wav_dev", per_language=2, seed=1)
    train.to_file(root / "train.jsonl.gz")
    dev.to_file(root / "dev.jsonl.gz")
    bpe = train_bpe([c.supervisions[0].text for c in train], root / "lang", vocab_size=120, byte_fallback=False)
    return {
        "root": root,
        "codec": root / "codec",
        "train": root / "train.jsonl.gz",
        "dev": root / "dev.jsonl.gz",
        "bpe": bpe,
    }
