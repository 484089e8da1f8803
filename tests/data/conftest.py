"""Session fixtures: one small synthetic corpus, its lhotse manifests and its stage-2 cuts, shared by the data tests."""

from pathlib import Path

import pytest

from fcodec.data.cuts import CutsBuilder, CutsOptions
from fcodec.data.data_config import load_data_config
from fcodec.data.synth.mini_corpus import build_mini_corpus
from tests.data.helpers import MINI_RECIPE, SMALL_SPEC, prepare_manifests


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build_mini_corpus(out, SMALL_SPEC, num_workers=2)
    return out


@pytest.fixture(scope="session")
def small_manifests(small_corpus, tmp_path_factory) -> Path:
    return prepare_manifests(small_corpus, tmp_path_factory.mktemp("manifests"))


@pytest.fixture(scope="session")
def data_config():
    return load_data_config(MINI_RECIPE / "conf" / "data.yaml")


@pytest.fixture(scope="session")
def small_cuts(small_manifests, data_config, tmp_path_factory) -> Path:
    """Stage 2 over the whole small corpus: every good utterance in train, dev and test."""
    out = tmp_path_factory.mktemp("cuts")
    options = CutsOptions(hours={}, dev_utts=None, num_test_utts=None, num_workers=2)
    CutsBuilder(data_config, small_manifests, out, options).run()
    return out
