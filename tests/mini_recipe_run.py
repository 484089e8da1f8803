"""The mini recipe run once per test session (stages 0-8, real MOS judges included), for the test modules that
check its stages: each borrows the run's folder and may damage or extend it; the next borrower gets it back as
the run left it, restored from a pristine copy.

The folder is restored in place rather than copied elsewhere because the stage markers name their outputs by
absolute path: a copy at another path would look like a different run to the recipe.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Dict

from tests.data.helpers import MINI_RECIPE, run_recipe

# The test modules that borrow the run: under pytest-xdist they share one worker, so the run happens once
# (tests/conftest.py, pytest_xdist_make_scheduler).
BORROWERS = (
    "tests/recipe/test_mini_recipe.py",
    "tests/train/test_mini_recipe_training.py",
    "tests/export/test_export_recipe.py",
    "tests/infer/test_mini_recipe_eval.py",
)

# What the session's run changes from the mini recipe as a user runs it, passed by every borrower's run too (a
# different option would redo stage 2): 3 test utterances per test set instead of 12 quarter stages 7-8, whose
# work is per utterance (real MOS judges on every model's reconstruction); every code path is the same.
TEST_UTTS = 3
TEST_OPTIONS = ("--num-test-utts", str(TEST_UTTS))

# The three invocations a user would make: data (0-3), training (4-6), evaluation (7-8). Each module checks the
# output of its own.
STAGES = {"0-3": ("0", "3"), "4-6": ("4", "6"), "7-8": ("7", "8")}


class MiniRecipeRun:
    def __init__(self, root: Path):
        self.work = root / "work"  # what the run wrote, at the paths its markers name
        self.pristine = root / "pristine"  # a copy, to restore the work folder for the next borrower
        self.output: Dict[str, subprocess.CompletedProcess] = {}
        self._lent = False

    def borrow(self, through: str) -> Path:
        """The run's folder for one test module to use as it likes, as the run left it, with the stages up to
        ``through`` (a key of STAGES) run. Stages are run when first asked for, so a session that checks only the
        data stages does not wait for training and scoring."""
        if self._lent:
            shutil.rmtree(self.work)
            shutil.copytree(self.pristine, self.work, symlinks=True)  # copy2: modification times are kept
        names = list(STAGES)
        missing = [name for name in names[: names.index(through) + 1] if name not in self.output]
        if missing:
            paths = ["--dl-dir", self.work / "download", "--data-dir", self.work / "data"]
            paths += ["--exp-dir", self.work / "exp", "--results", self.work / "RESULTS.md"]
            for name in missing:
                first, last = STAGES[name]
                # stage 8 runs the real MOS judges (NISQA, DNSMOS) on every model and test set: minutes on a
                # loaded CI machine
                self.output[name] = run_recipe(
                    MINI_RECIPE, *TEST_OPTIONS, *paths, "--stage", first, "--stop-stage", last, timeout=2400
                )
            shutil.rmtree(self.pristine, ignore_errors=True)
            shutil.copytree(self.work, self.pristine, symlinks=True)
        self._lent = True
        return self.work
