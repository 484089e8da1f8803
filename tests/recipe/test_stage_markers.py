"""utils/common.sh's stage markers: when a stage may be skipped, and when the stages after it must be redone.

Driven through a two-stage script: stage "a" writes a.txt from a value, stage "b" reads it (its signature holds
the fingerprint of a's marker, as every stage of codec.sh does with the stages it reads from)."""

import subprocess
import textwrap

from tests.data.helpers import TEMPLATE

SCRIPT = textwrap.dedent("""\
    #!/usr/bin/env bash
    set -euo pipefail
    . {utils}/common.sh
    force=${{FORCE:-false}}
    cd "$1"
    value=$2  # what stage a writes (its option is the same every run: only its output changes)
    status=$(stage_status .a.done "a option=1")
    if [ "${{status}}" != done ]; then
      echo "${{value}}" > a.txt
      mark_done .a.done "a option=1" a.txt -- a.log
    fi
    echo "a ${{status}}"
    force=false
    status=$(stage_status .b.done "b a=$(fingerprint .a.done)")
    if [ "${{status}}" != done ]; then
      cat a.txt > b.txt
      mark_done .b.done "b a=$(fingerprint .a.done)" b.txt
    fi
    echo "b ${{status}}"
""")


def run(tmp_path, value, force=False):
    script = tmp_path / "stages.sh"
    script.write_text(SCRIPT.format(utils=TEMPLATE / "utils"))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "a.log").write_text("a report: not an input of b\n")
    out = subprocess.run(
        ["bash", str(script), str(work), value],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "FORCE": "true" if force else "false"},
    )
    return out, work


def test_a_finished_chain_is_skipped(tmp_path):
    first, _ = run(tmp_path, "x")
    assert first.returncode == 0 and first.stdout.split("\n")[:2] == ["a todo", "b todo"]
    again, _ = run(tmp_path, "x")
    assert again.stdout.split("\n")[:2] == ["a done", "b done"]


def test_a_stage_redone_with_the_same_result_leaves_the_next_one_done(tmp_path):
    run(tmp_path, "x")
    out, _ = run(tmp_path, "x", force=True)
    assert out.stdout.split("\n")[:2] == ["a todo", "b done"]


def test_a_stage_redone_with_another_result_redoes_the_next_one(tmp_path):
    # same options, other output: --force true after a code change, a replaced pretrained model
    run(tmp_path, "x")
    out, work = run(tmp_path, "y", force=True)
    assert out.stdout.split("\n")[:2] == ["a todo", "b todo"]
    assert (work / "b.txt").read_text() == "y\n"
    assert "other options or inputs; redoing" in out.stderr


def test_a_report_may_change_without_redoing_anything(tmp_path):
    run(tmp_path, "x")
    (tmp_path / "work" / "a.log").write_text("rewritten")
    out, _ = run(tmp_path, "x", force=True)
    assert out.stdout.split("\n")[:2] == ["a todo", "b done"]


def test_a_stage_is_not_marked_done_without_its_outputs(tmp_path):
    script = tmp_path / "bad.sh"
    script.write_text(f". {TEMPLATE / 'utils'}/common.sh\ncd {tmp_path}\nmark_done .c.done sig nothing.txt\n")
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "its output nothing.txt is not there; not marking it done" in out.stderr
    assert not (tmp_path / ".c.done").exists()


def test_set_aside_moves_and_never_deletes(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "model.bin").write_text("trained")
    script = tmp_path / "aside.sh"
    script.write_text(
        f". {TEMPLATE / 'utils'}/common.sh\ncd {tmp_path}\nset_aside exp\nmkdir exp\nset_aside exp/\n"
        "set_aside missing\n"
    )
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    aside = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("exp.old."))
    assert len(aside) == 2 and not (tmp_path / "exp").exists() and not (tmp_path / "missing").exists()
    assert (tmp_path / aside[0] / "model.bin").read_text() == "trained"
    assert "exp set aside as exp.old." in out.stderr
