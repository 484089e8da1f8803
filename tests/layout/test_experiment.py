"""The experiment layout (fcodec.layout.experiment): the names the decoder, the scorer, the report and the recipe
agree on."""

from __future__ import annotations

import datetime

import pytest

from fcodec.layout import experiment as layout


@pytest.mark.parametrize(
    "model, preset",
    [("pretrained", "50hz_keep2_275bps"), ("train_12.5hz", "12.5hz_6bit_75bps"), ("train_50hz", "50hz_3bit_150bps")],
)
def test_posthoc_model_names_are_model_folders_and_split_back(model, preset):
    name = layout.posthoc_model_name(model, preset)
    match = layout.MODEL_DIR.match(name)
    assert match and match.group(2) == preset
    assert layout.is_posthoc(name) and layout.split_posthoc(name) == (model, preset)
    assert not layout.is_posthoc(model) and layout.split_posthoc(model) == (model, None)


@pytest.mark.parametrize("name", ["train_50hz", "pretrained", "train_12.5hz"])
def test_model_folders(name):
    assert layout.MODEL_DIR.match(name)


@pytest.mark.parametrize("name", ["asr_cache", "train_50hz.old.20260101-000000", "my_tag", "train_fast"])
def test_other_folders_are_not_model_folders(name):
    assert not layout.MODEL_DIR.match(name)


def test_paths_of_a_recipe_experiment(tmp_path):
    exp = tmp_path / "exp"
    assert layout.decode_dir(exp, "train_25hz", "test_aishell") == exp / "train_25hz" / "decode" / "test_aishell"
    score = layout.score_root(exp, "train_25hz")
    assert score == exp / "train_25hz" / "score"
    assert layout.judge_dir(score, "small", "test_aishell") == score / "small" / "test_aishell"
    assert layout.reconstructions_cache_dir(score) == score / ".reconstructions"
    assert layout.journal_path(exp / "d") == exp / "d" / ".progress.jsonl"
    # the originals' transcripts are shared by the experiment's models; elsewhere they stay beside the scores
    assert layout.default_cache_dir(score) == exp / "asr_cache"
    assert layout.default_cache_dir(layout.score_root(exp, "pretrained")) == exp / "asr_cache"
    assert layout.default_cache_dir(tmp_path / "scores") == tmp_path / "scores" / "asr_cache"
    assert layout.default_cache_dir(exp / "other" / "score") == exp / "other" / "score" / "asr_cache"


@pytest.mark.parametrize(
    "path, name",
    [
        ("data/cuts/test_aishell.jsonl.gz", "test_aishell"),
        ("x/test_librispeech.jsonl", "test_librispeech"),
        ("x/dev.json.gz", "dev"),
        ("x/dev.json", "dev"),
        ("x/test.cuts.txt", "test.cuts"),
    ],
)
def test_test_set_names(path, name):
    assert layout.test_set_name(path) == name


def test_set_aside_names_are_free_and_recognised(tmp_path):
    folder = tmp_path / "test_aishell"
    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    first = layout.set_aside_path(folder, now)
    assert first.name == "test_aishell.old.20260102-030405" and layout.is_set_aside(first.name)
    first.mkdir()
    second = layout.set_aside_path(folder, now)
    assert second != first and not second.exists() and layout.is_set_aside(second.name)
    assert not layout.is_set_aside(folder.name)


def test_score_summaries_of_an_experiment(tmp_path):
    exp = tmp_path / "exp"
    kept = [
        ("train_50hz", "small", "test_aishell"),
        ("train_50hz+posthoc_50hz_keep2_275bps", "small", "test_aishell"),
        ("pretrained", "large-v3", "test_librispeech"),
    ]
    left_out = [
        ("train_50hz", "small", "test_aishell.old.20260101-000000"),  # set aside
        ("asr_cache", "small", "test_aishell"),  # not a model folder
    ]
    for model, judge, test_set in kept + left_out:
        path = layout.judge_dir(layout.score_root(exp, model), judge, test_set) / layout.SCORE_SUMMARY
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    old = exp / "pretrained" / "score" / "test_aishell" / layout.SCORE_SUMMARY  # before judges had folders
    old.parent.mkdir(parents=True)
    old.write_text("{}")
    found = sorted(layout.score_summaries(exp))
    assert [entry[:3] for entry in found] == sorted(kept)
    assert all(path.is_file() and path.parent.name == test_set for _, _, test_set, path in found)
    assert layout.old_layout_summaries(exp) == [old]
