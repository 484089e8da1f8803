"""Fixtures shared by all tests: the optional real assets beside the repository."""

from pathlib import Path

import pytest

from fcodec.utils.assets import shared_audio_dir, shared_nisqa_checkpoint, shared_whisper_checkpoint


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
