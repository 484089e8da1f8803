"""The recipe's corpus checks: a wrong folder stops with what was expected where (no audio needed)."""

import pytest

from fcodec.data import corpora


def _aishell(root, extracted=True):
    (root / "data_aishell" / "transcript").mkdir(parents=True)
    (root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt").write_text("BAC009S0002W0122 你好\n")
    for part, speaker in [("train", "S0002"), ("dev", "S0724"), ("test", "S0764")]:
        folder = root / "data_aishell" / "wav" / part
        folder.mkdir(parents=True)
        if extracted:
            (folder / speaker).mkdir()
            (folder / speaker / f"BAC009{speaker}W0122.wav").write_bytes(b"")
        else:
            (root / "data_aishell" / "wav" / f"{speaker}.tar.gz").write_bytes(b"")
    return root


def _librispeech(root, parts):
    for part in parts:
        (root / part / "19" / "198").mkdir(parents=True)
        (root / part / "19" / "198" / "19-198.trans.txt").write_text("19-198-0000 HELLO\n")
    return root


def test_a_good_aishell_folder_passes_and_mistakes_are_explained(tmp_path):
    root = _aishell(tmp_path / "aishell")
    corpora.check_aishell(root)
    with pytest.raises(corpora.LayoutError, match="is the data_aishell folder itself; point at its parent"):
        corpora.check_aishell(root / "data_aishell")
    with pytest.raises(corpora.LayoutError, match=r"folder .*/nowhere does not exist"):
        corpora.check_aishell(tmp_path / "nowhere")
    packed = _aishell(tmp_path / "packed", extracted=False)
    with pytest.raises(corpora.LayoutError, match=r"speaker archives \(S0002.tar.gz.*unextracted"):
        corpora.check_aishell(packed)
    (root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt").unlink()
    with pytest.raises(corpora.LayoutError) as error:
        corpora.check_aishell(root)
    assert f"{root}/data_aishell/transcript/aishell_transcript_v0.8.txt is missing" in str(error.value)
    assert f"{root}/data_aishell/wav/{{train,dev,test}}/S0002/BAC009S0002W0122.wav" in str(error.value)


def test_a_good_librispeech_folder_passes_and_mistakes_are_explained(tmp_path):
    parts = ["train-clean-100", "dev-clean"]
    root = _librispeech(tmp_path / "LibriSpeech", parts)
    corpora.check_librispeech(root, parts)
    with pytest.raises(corpora.LayoutError, match="holds a LibriSpeech folder; point at"):
        corpora.check_librispeech(tmp_path, parts)
    with pytest.raises(corpora.LayoutError, match="is a LibriSpeech part folder; point at its parent"):
        corpora.check_librispeech(root / "dev-clean", parts)
    with pytest.raises(
        corpora.LayoutError, match=r"test-clean is missing \(parts present: dev-clean train-clean-100\)"
    ):
        corpora.check_librispeech(root, parts + ["test-clean"])
    with pytest.raises(corpora.LayoutError, match="unknown LibriSpeech part"):
        corpora.check_librispeech(root, ["train-clean-1000"])
    (root / "dev-clean" / "19" / "198" / "19-198.trans.txt").unlink()
    with pytest.raises(corpora.LayoutError, match=r"dev-clean has no <speaker>/<chapter>/\*\.trans\.txt"):
        corpora.check_librispeech(root, parts)


def test_a_folder_the_user_named_is_never_downloaded_into(tmp_path):
    with pytest.raises(corpora.LayoutError, match="does not exist"):
        corpora.fetch("librispeech", tmp_path / "mine", tmp_path / "dl", ["dev-clean"], given=True)
    assert not (tmp_path / "dl").exists()
