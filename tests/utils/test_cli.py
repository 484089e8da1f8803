"""fcodec.utils.cli: an expected failure is one line on stderr and a non-zero status; a bug keeps its traceback."""

import pytest
import torch

from fcodec.utils.cli import UserError, command_line


def test_a_user_error_is_one_line_and_status_2(capsys):
    @command_line("python -m fcodec.bin.x")
    def main(argv=None):
        raise UserError("--thing 0: give a positive number\n(see --help)")

    assert main() == 2
    assert capsys.readouterr().err == "python -m fcodec.bin.x: error: --thing 0: give a positive number (see --help)\n"


def test_a_full_disk_is_one_line_even_through_torch(capsys, tmp_path):
    """A real ENOSPC (/dev/full), raised inside torch.save, chained with torch's own error."""

    @command_line("python -m fcodec.bin.train")
    def main(argv=None):
        with open("/dev/full", "wb") as f:
            torch.save({"w": torch.zeros(1 << 20)}, f)
            f.flush()

    if not __import__("os").path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    assert main() == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: no space left on device" in err and "rerun the same command" in err


def test_a_bug_keeps_its_traceback():
    @command_line("x")
    def main(argv=None):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        main()
