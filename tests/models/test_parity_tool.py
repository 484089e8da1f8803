"""tools/parity/check_upstream.py: a clear failure without upstream, and the tiny mode against the real upstream
package when it is importable (it is not in CI: there these tests skip or only check the error path)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "parity" / "check_upstream.py"


def run_tool(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, str(TOOL), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def load_tool():
    spec = importlib.util.spec_from_file_location("check_upstream", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_fails_clearly_without_upstream(tmp_path):
    (tmp_path / "not_it").mkdir()
    result = run_tool("--upstream", str(tmp_path), timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"--upstream {tmp_path}" in result.stderr
    assert str(tmp_path / "focalcodec" / "__init__.py") in result.stderr  # where it looked
    assert "pip install git+https://github.com/lucadellalib/focalcodec@" in result.stderr
    assert "git clone" in result.stderr
    assert result.stdout == ""  # no table, no half-run comparison


def test_token_mismatches_only_excuse_bits_at_zero_latents():
    tool = load_tool()
    bit_weights = torch.tensor([4, 2, 1])
    lats = torch.tensor([[[0.5, 3e-6, -0.4], [0.5, 0.2, -0.4], [-0.1, 0.3, 0.2]]])
    ref = torch.tensor([[6, 6, 3]])
    # frame 0 flips bit 1 whose latent is ~0 (explained); frame 1 flips the same bit at 0.2 (a real mismatch)
    assert tool.token_mismatches(ref, torch.tensor([[4, 4, 3]]), lats, bit_weights) == (1, 1)
    assert tool.token_mismatches(ref, ref.clone(), lats, bit_weights) == (0, 0)
    assert tool.token_mismatches(ref, torch.tensor([[6, 6]]), lats, bit_weights)[0] == float("inf")


def upstream_folder():
    spec = importlib.util.find_spec("focalcodec")
    return None if spec is None else str(Path(spec.origin).parent.parent)


@pytest.mark.skipif(upstream_folder() is None, reason="the upstream focalcodec package is not importable")
def test_tiny_parity_with_upstream(tmp_path):
    out = tmp_path / "parity.json"
    result = run_tool("--upstream", upstream_folder(), "--configs", "tiny", "--threads", "1", "--json", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    checks = {c["check"]: c for c in report["checks"]}
    assert report["failed"] == 0 and all(c["ok"] for c in checks.values())
    for model in ("tiny causal 50Hz", "tiny causal 25Hz grown", "tiny causal 12.5Hz grown x2", "tiny noncausal 25Hz"):
        assert checks[f"{model} | forward waveform"]["max_diff"] <= 1e-3
        assert checks[f"{model} | upstream loads our save_pretrained: waveform"]["ok"]
    assert (
        checks["tiny causal 12.5Hz grown x2 | stream vs upstream stream, whole chunks (tokens differing)"]["max_diff"]
        == 0
    )
    assert f"{len(checks)} checks, 0 failed" in result.stdout
