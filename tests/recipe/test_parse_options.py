"""utils/parse_options.sh: Kaldi's option semantics, driven through a small script that uses it."""

import subprocess
import textwrap

import pytest

from tests.data.helpers import TEMPLATE

SCRIPT = textwrap.dedent("""\
    #!/usr/bin/env bash
    set -euo pipefail
    stage=0
    stop_stage=100
    use_gpu=true
    name="a b"
    {declare}
    help_message="usage: demo [options]"
    . {utils}/parse_options.sh
    echo "stage=$stage stop_stage=$stop_stage use_gpu=$use_gpu name=$name rest=$*"
""")


def run(tmp_path, *args, declare=""):
    script = tmp_path / "demo.sh"
    script.write_text(SCRIPT.format(utils=TEMPLATE / "utils", declare=declare))
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True)


def test_dashes_and_underscores_set_declared_variables(tmp_path):
    out = run(tmp_path, "--stage", "2", "--stop-stage", "3", "--use_gpu", "false", "--name", "x y")
    assert out.returncode == 0 and out.stdout.strip() == "stage=2 stop_stage=3 use_gpu=false name=x y rest="
    assert run(tmp_path, "--stop_stage", "7").stdout.startswith("stage=0 stop_stage=7")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus", "1"], "invalid option --bogus"),
        (["--stage=3"], "must be of the form --name value"),
        (["--use-gpu", "yes"], "takes true or false"),
        (["--stage"], "needs a value"),
        (["--PATH", "/x"], "invalid option --PATH"),  # set in the environment, but not an option of the script
    ],
)
def test_bad_options_stop_with_a_clear_error(tmp_path, args, message):
    out = run(tmp_path, *args, declare='option_names="stage stop_stage use_gpu name"')
    assert out.returncode == 1 and message in out.stderr


def test_without_an_option_list_any_set_variable_is_an_option_as_in_kaldi(tmp_path):
    out = run(tmp_path, "--help_message", "x")
    assert out.returncode == 0
    assert run(tmp_path, "--nope", "1").returncode == 1


def test_help_prints_the_help_and_exits_0(tmp_path):
    out = run(tmp_path, "--stage", "1", "--help")
    assert out.returncode == 0 and out.stdout.strip() == "usage: demo [options]"
    custom = run(tmp_path, "-h", declare='print_help() { echo "stage is now $stage"; }')
    assert custom.returncode == 0 and custom.stdout.strip() == "stage is now 0"


def test_config_file_first_then_the_command_line(tmp_path):
    config = tmp_path / "opts.conf"
    config.write_text("stage=5\nstop_stage=6\n")
    out = run(tmp_path, "--stop-stage", "9", "--config", str(config))
    assert out.returncode == 0 and out.stdout.startswith("stage=5 stop_stage=9")
    assert "cannot read the config file" in run(tmp_path, "--config", str(tmp_path / "none")).stderr


def test_parsing_stops_at_the_first_positional_argument(tmp_path):
    out = run(tmp_path, "--stage", "1", "data/x", "--stop-stage", "2")
    assert out.stdout.strip() == "stage=1 stop_stage=100 use_gpu=true name=a b rest=data/x --stop-stage 2"
