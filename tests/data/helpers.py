"""Shared helpers for the data and recipe tests: a small synthetic corpus, its manifests, running a recipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fcodec.data import corpora
from fcodec.data.synth.mini_corpus import MiniCorpusSpec

REPO = Path(__file__).resolve().parents[2]
MINI_RECIPE = REPO / "egs" / "mini_bilingual" / "codec1"
REAL_RECIPE = REPO / "egs" / "aishell_librispeech" / "codec1"
TEMPLATE = REPO / "egs" / "TEMPLATE" / "codec1"
LIBRISPEECH_PARTS = ["train-clean-100", "dev-clean", "test-clean"]
MINI_JUDGES = ("tiny-random", "tiny-random-seed1")  # the mini recipe's --asr-judges


def run_recipe(recipe: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """``<recipe>/run.sh ARGS`` with the interpreter running the tests first on PATH. The result's ``text`` holds
    stdout and stderr together (the job launcher passes the stages' output to stdout); with ``check`` a failure
    shows the end of it."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        [str(recipe / "run.sh"), *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )
    out.text = out.stdout + out.stderr
    if check:
        assert out.returncode == 0, out.text[-6000:]
    return out


# Small enough to synthesise in about a second, big enough for a few batches per language.
SMALL_SPEC = MiniCorpusSpec(
    seed=0, train_speakers=2, eval_speakers=1, train_utts_per_speaker=5, eval_utts_per_speaker=3
)


def prepare_manifests(corpus_dir: Path, out_dir: Path) -> Path:
    corpora.prepare("aishell", corpus_dir / "aishell", out_dir, LIBRISPEECH_PARTS, nj=2, keep_existing=False)
    corpora.prepare("librispeech", corpus_dir / "LibriSpeech", out_dir, LIBRISPEECH_PARTS, nj=2, keep_existing=False)
    return out_dir
