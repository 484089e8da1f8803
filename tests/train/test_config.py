"""The YAML config system: typed overrides, clear errors, and a dump that reads back to the same config."""

import pytest

from fcodec.train.config import ConfigError, TrainConfig, config_diff, dump_config, load_config, to_dict


def test_defaults_and_yaml_and_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("optim:\n  lr: 5.0e-5\n  betas: [0.8, 0.99]\nlosses:\n  feature: 1\n  asr:\n    weight: 3e1\n")
    cfg = load_config(
        path,
        [
            "optim.lr_new=1e-3",
            "train.max_steps=7",
            "data.segment_duration=null",
            "train.deterministic=true",
            "model.new_params=[a.b, c.]",
            "losses.asr.ramp_steps=2e3",
            "losses.asr.whisper=small",
        ],
    )
    assert cfg.optim.lr == 5e-5 and cfg.optim.betas == (0.8, 0.99)
    assert cfg.optim.lr_new == 1e-3 and isinstance(cfg.optim.lr_new, float)  # YAML would read 1e-3 as a string
    # a file's losses section replaces the default terms; numbers YAML reads as strings are numbers
    assert cfg.losses == {"feature": 1, "asr": {"weight": 30.0, "ramp_steps": 2000.0, "whisper": "small"}}
    assert cfg.train.max_steps == 7 and cfg.train.deterministic is True
    assert cfg.data.segment_duration is None
    assert cfg.model.new_params == ["a.b", "c."]
    assert cfg.data.max_duration == TrainConfig().data.max_duration  # untouched keys keep their defaults
    # without a file the default terms stay and an override adds to them
    cfg = load_config(None, ["losses.asr.weight=20"])
    assert cfg.losses == {**TrainConfig().losses, "asr": {"weight": 20}}


def test_dump_reads_back_identically(tmp_path):
    cfg = load_config(None, ["optim.lr=3e-4", "model.init_from=exp/train_50hz/best", "losses.ctc.weight=0.5"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(cfg, header="resolved\ncommand: x"))
    assert path.read_text().startswith("# resolved\n# command: x\n")
    again = load_config(path)
    assert to_dict(again) == to_dict(cfg)
    assert config_diff(to_dict(cfg), to_dict(again)) == []
    assert config_diff(to_dict(TrainConfig()), to_dict(cfg)) == [
        "losses.ctc: '<missing>' -> {'weight': 0.5}",
        "model.init_from: '' -> 'exp/train_50hz/best'",
        "optim.lr: 0.0005 -> 0.0003",
    ]


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", "optim has no key 'lrr'"),
        ("optimizer.lr=1", "<top> has no key 'optimizer'"),
        ("optim.lr=fast", "cannot read 'fast' as float"),
        ("train.max_steps=1.5", "cannot read 1.5 as int"),
        ("optim.lr.x=1", "optim.lr is not a section"),
        ("optim.lr", "expected key.sub=value"),
        ("optim.betas=[1]", "expected 2 values"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_config(None, [override])


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    import time

    bomb = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi"):
        bomb += f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
    path = tmp_path / "bomb.yaml"
    path.write_text("losses:\n" + "".join(f"  {line}\n" for line in bomb.splitlines()))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"bomb.yaml: not valid YAML: the document expands to \d+ nodes"):
        load_config([path])
    assert time.perf_counter() - start < 5  # refused, not expanded (it took minutes to a MemoryError)


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  learning_rate: 1.0\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml\.optim: unknown key\(s\) \['learning_rate'\]"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


def test_config_files_are_layered_in_order(tmp_path):
    """--config a.yaml --config b.yaml: b changes a few keys of a; sections merge key by key at every depth."""
    base, change = tmp_path / "base.yaml", tmp_path / "change.yaml"
    base.write_text(
        "optim:\n  lr: 5.0e-5\n  lr_new: 5.0e-4\nlosses:\n  feature: {weight: 1.0}\n"
        "  asr: {weight: 30.0, sub_batch_size: 8}\n  ctc: {weight: 0.1}\n"
    )
    change.write_text("optim:\n  lr_new: 1.0e-3\nlosses:\n  asr: {weight: 20.0}\n  ctc: null\n")
    cfg = load_config([base, change], ["train.max_steps=5"])
    assert cfg.optim.lr == 5e-5 and cfg.optim.lr_new == 1e-3 and cfg.train.max_steps == 5
    assert cfg.losses == {"feature": {"weight": 1.0}, "asr": {"weight": 20.0, "sub_batch_size": 8}, "ctc": None}
    assert to_dict(load_config([change, base])) != to_dict(cfg)  # the order matters: the last file wins
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimizer: {lr: 1}\n")
    with pytest.raises(ConfigError, match="bad.yaml: unknown key"):
        load_config([base, bad])


def test_print_config_shows_the_merge(tmp_path, capsys):
    from fcodec.bin.train import main

    base, change = tmp_path / "base.yaml", tmp_path / "change.yaml"
    base.write_text("optim:\n  lr: 5.0e-5\n  lr_new: 5.0e-4\n")
    change.write_text("optim:\n  lr_new: 1.0e-3\n")
    assert main(["--config", str(base), "--config", str(change), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "lr: 5.0e-05" in out and "lr_new: 0.001" in out


# ---------------------------------------------------------------------------------------------------------------
# train.valid_interval, the old name of train.dev_interval


def test_the_old_name_of_dev_interval_is_read_in_files_and_overrides(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("train:\n  max_steps: 9\n  valid_interval: 7\n")
    assert load_config(old).train.dev_interval == 7
    assert load_config(None, ["train.valid_interval=5"]).train.dev_interval == 5
    # a later source wins whatever name each uses: a file layered over another, an override over a file
    new = tmp_path / "new.yaml"
    new.write_text("train:\n  dev_interval: 3\n")
    assert load_config([old, new]).train.dev_interval == 3
    assert load_config([new, old]).train.dev_interval == 7
    assert load_config(old, ["train.dev_interval=4"]).train.dev_interval == 4
    assert load_config(new, ["train.valid_interval=4"]).train.dev_interval == 4
    assert "valid_interval" not in dump_config(load_config(old))


def test_both_names_of_dev_interval_in_one_source_are_one_line_errors(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text("train:\n  valid_interval: 7\n  dev_interval: 7\n")
    with pytest.raises(ConfigError, match=r"both\.yaml: train\.valid_interval and train\.dev_interval both given") as e:
        load_config(both)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"overrides train\.dev_interval and train\.valid_interval are one key") as e:
        load_config(None, ["train.valid_interval=5", "train.dev_interval=5"])
    assert "\n" not in str(e.value)


def test_the_recipes_configs_that_say_valid_interval_keep_their_value():
    """The recipes' configs keep their bytes (stages 4-6 fingerprint them: a finished training run stays
    finished); the value they give under the old name is the one that trains."""
    from pathlib import Path

    from fcodec.utils.yaml_safe import safe_yaml

    olds = []
    for path in sorted((Path(__file__).parents[2] / "egs").glob("*/codec1/conf/train_*.yaml")):
        section = (safe_yaml(path.read_text()) or {}).get("train") or {}
        if "valid_interval" in section:
            olds.append(path)
            assert load_config(path).train.dev_interval == section["valid_interval"], path
    assert olds  # the old name is still in use: the mapping matters


def test_a_config_record_written_before_the_rename_is_no_difference(tmp_path, caplog):
    """A resumed run compares its config with the config.yaml of the run before: the old key name is the same key."""
    import logging

    from fcodec.train.run import write_config_record

    cfg = load_config(None, ["train.dev_interval=6"])
    (tmp_path / "config.yaml").write_text(dump_config(cfg).replace("dev_interval: 6", "valid_interval: 6"))
    with caplog.at_level(logging.WARNING):
        write_config_record(tmp_path, cfg, "python -m fcodec.bin.train ...")
    assert "differs" not in caplog.text
    with caplog.at_level(logging.WARNING):  # a real difference is still reported
        write_config_record(tmp_path, load_config(None, ["train.dev_interval=7"]), "python -m fcodec.bin.train ...")
    assert "train.dev_interval: 6 -> 7" in caplog.text
