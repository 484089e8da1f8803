"""Fixtures shared by all tests: the optional real assets beside the repository, and a kernel cache of their own."""

import os
from pathlib import Path

import pytest

from fcodec.utils.assets import shared_audio_dir, shared_nisqa_checkpoint, shared_whisper_checkpoint


@pytest.fixture(scope="session", autouse=True)
def own_kernel_cache(tmp_path_factory):
    """The tests measure their kernel choices afresh in a folder of their own (subprocesses inherit it): what
    runs must not depend on what earlier runs on this machine left in ~/.cache/fcodec/kernels.json."""
    from fcodec.models import kernel_choice

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FCODEC_CACHE_DIR", str(tmp_path_factory.mktemp("fcodec_cache")))
        kernel_choice.clear()
        yield
    kernel_choice.clear()


@pytest.fixture(scope="session")
def real_audio_dir() -> Path:
    path = shared_audio_dir()
    if path is None:
        pytest.skip("real speech (../shared/audio) is not present in this checkout; set FCODEC_SHARED to use it")
    return path


@pytest.fixture(scope="session")
def real_whisper_path() -> Path:
    path = shared_whisper_checkpoint()
    if path is None:
        pytest.skip("real Whisper (../shared/models/whisper-base.pt) is not present; set FCODEC_SHARED to use it")
    return path


@pytest.fixture(scope="session")
def real_nisqa_path() -> Path:
    path = shared_nisqa_checkpoint()
    if path is None:
        pytest.skip("NISQA weights (../shared/models/nisqa/nisqa.tar) are not present; set FCODEC_SHARED to use them")
    return path


@pytest.fixture(scope="session")
def tiny_whisper_path(tmp_path_factory) -> Path:
    from fcodec.utils.whisper import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")


def pytest_collection_modifyitems(config, items):
    """Longest work first, so that with ``-n 2`` the two workers end together: the modules that borrow the mini
    recipe's session run (in their own order; the run and its tests are the longest chain), then the modules with a
    ``slow`` test, then the rest. Within a module the order is kept."""
    from tests.mini_recipe_run import BORROWERS

    def module(item):
        return item.nodeid.split("::", 1)[0]

    slow = {module(item) for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: 0 if module(item) in BORROWERS else 1 if module(item) in slow else 2)  # stable


class ModulesSharingTheMiniRecipe:
    """Under pytest-xdist (``-n 2``): each test module goes to one worker, as with ``--dist loadscope``, and the
    modules that borrow the session's mini recipe run all to the same one, so the run is made once. (xdist's own
    ``xdist_group`` marks rename node ids in a way pytest 9 no longer reads.) Registered only when xdist is active:
    pytest refuses a hook of a plugin that is not loaded (``-p no:xdist``, or xdist not installed)."""

    @staticmethod
    def pytest_xdist_make_scheduler(config, log):
        from xdist.scheduler import LoadScopeScheduling

        from tests.mini_recipe_run import BORROWERS

        # the modules in collection order (longest first, pytest_collection_modifyitems), not xdist's default
        # order by number of tests, which says nothing about how long they take
        config.option.loadscopereorder = False

        class Scheduler(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                module = nodeid.split("::", 1)[0]
                return "mini recipe run" if module in BORROWERS else module

        return Scheduler(config, log)


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # an xdist worker: the workers share the cores, one each
        # torch's OpenMP threads spin while they wait: two workers of two threads each on two cores wait on each
        # other; the processes a test starts inherit the setting (those that set their own threads keep theirs)
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(ModulesSharingTheMiniRecipe(), "fcodec-xdist-scheduler")


@pytest.fixture(scope="session")
def mini_recipe_run(tmp_path_factory):
    """The mini recipe, run once per session (see tests/mini_recipe_run.py): borrow() its folder."""
    from tests.mini_recipe_run import MiniRecipeRun

    return MiniRecipeRun(tmp_path_factory.mktemp("mini_recipe"))
