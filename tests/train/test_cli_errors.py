"""fcodec.bin.train refuses what cannot work before it builds a model or writes a file: one line on stderr naming
the key and the fix, a non-zero status, an exp dir left as it was."""

import gzip

import pytest

from fcodec.bin import train as train_cli
from tests.train.speech import run_overrides


def run(capsys, assets, exp_dir, **overrides):
    status = train_cli.main(
        [
            "--exp-dir",
            str(exp_dir),
            *run_overrides(assets, **{"model.init_from": assets["codec"], "train.max_steps": 2, **overrides}),
        ]
    )
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"data.train_cuts": "nowhere/train.jsonl.gz"},
            r"data.train_cuts: cut manifest nowhere/train.jsonl.gz not found",
        ),
        ({"model.init_from": "nowhere/stage1/best"}, r"model.init_from: No codec at 'nowhere/stage1/best'"),
        ({"optim.lr": -1}, r"optim.lr=-1(\.0)?: must be a positive number"),
        ({"data.max_duration": 0}, r"data.max_duration=0(\.0)?: must be a positive number"),
        ({"losses.mel.wieght": 3}, r"losses.mel: unknown key\(s\) \['wieght'\]"),
        (
            {"losses.adversarial.weight": 1},
            r"losses.adversarial/feature_matching need discriminators: add a gan: section",
        ),
    ],
)
def test_bad_values_and_missing_inputs(capsys, assets, tmp_path, overrides, message):
    import re

    exp = tmp_path / "exp"
    status, err = run(capsys, assets, exp, **overrides)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("python -m fcodec.bin.train: error: ")
    assert re.search(message, err), err
    assert not exp.exists()  # nothing a rerun could mistake for a started run


def test_an_empty_or_unreadable_dev_set(capsys, assets, tmp_path):
    empty = tmp_path / "empty.jsonl.gz"
    with gzip.open(empty, "wt"):
        pass
    status, err = run(capsys, assets, tmp_path / "a", **{"data.dev_cuts": empty})
    assert status == 2 and f"data.dev_cuts: {empty} holds no cuts" in err
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    status, err = run(capsys, assets, tmp_path / "b", **{"data.dev_cuts": broken})
    assert status == 2 and f"data.dev_cuts: {broken} cannot be read as a lhotse cut manifest" in err
    assert err.count("\n") == 1


def test_print_config_refuses_a_typo_in_a_loss(capsys):
    assert train_cli.main(["--print-config", "losses.asr.wieght=30"]) == 2
    assert "losses.asr: unknown key(s) ['wieght']" in capsys.readouterr().err
    assert train_cli.main(["--print-config", "losses.asr.weight=30", "losses.asr.whisper=small"]) == 0
    # the GAN terms take only their weight schedule (their options are the gan: section's)
    assert train_cli.main(["--print-config", "gan.start_step=2", "losses.adversarial.wieght=1"]) == 2
    assert "losses.adversarial: unknown key(s) ['wieght']" in capsys.readouterr().err
    assert (
        train_cli.main(
            ["--print-config", "gan.start_step=2", "losses.adversarial.weight=1", "losses.adversarial.ramp_steps=5"]
        )
        == 0
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr_decoder=-1e-3", "optim.lr_decoder=-0.001: must be a positive number"),
        ("optim.betas=[2,3]", "optim.betas=(2.0, 3.0): must be two numbers in [0, 1)"),
        ("gan.lr_decay=0", "gan.lr_decay=0.0: must be in (0, 1]"),
        ("gan.lr=-1", "gan.lr=-1.0: must be a positive number"),
        ("gan.loss=bogus", "gan.loss='bogus': unknown; choose from ['hinge', 'lsgan']"),
        ("gan.periods=[0]", "gan.periods=[0]: every value must be >= 1"),
        ("gan.start_step=-3", "gan.start_step=-3: must be an integer >= 0"),
        ("gan.betas=[2,3]", "gan.betas=(2.0, 3.0): must be two numbers in [0, 1)"),
        ("gan.resolutions=[[512,50,1024]]", "gan.resolutions[0]=[512, 50, 1024]: the window must not exceed n_fft"),
    ],
)
def test_every_optimizer_and_gan_value_is_checked_before_anything_runs(capsys, override, message):
    assert train_cli.main(["--print-config", "gan.start_step=0", override]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_refused_audio_source_deep_in_the_training_set_stops_before_anything_runs(capsys, assets, tmp_path):
    from dataclasses import replace

    from lhotse import CutSet
    from lhotse.audio import AudioSource

    cuts = list(CutSet.from_file(assets["train"]))
    last = cuts[-1]
    source = AudioSource(type="url", channels=[0], source="http://example.invalid/x.wav")
    cuts[-1] = replace(last, recording=replace(last.recording, sources=[source]))
    bad = tmp_path / "train.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(bad)
    exp = tmp_path / "exp"
    status, err = run(capsys, assets, exp, **{"data.train_cuts": str(bad)})
    assert status == 2 and err.count("\n") == 1, err
    assert f"data.train_cuts: {bad}: {last.id}" in err and "'url' refused" in err
    assert not exp.exists()


def test_a_locked_exp_dir_is_one_line(capsys, assets, tmp_path):
    from fcodec.train.lock import acquire, release

    lock = acquire(tmp_path / "exp")  # this process holds it, as another live run would
    try:
        status, err = run(capsys, assets, tmp_path / "exp")
    finally:
        release(lock)
    assert status == 1 and "is in use by another training run (pid" in err and err.count("\n") == 1
