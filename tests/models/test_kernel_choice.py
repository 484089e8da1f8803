"""Fast kernels are chosen by measurement: never one slower than the plain op, cached per CPU and torch."""

import json

import pytest
import torch
import torch.nn.functional as F

from fcodec.models import kernel_choice
from fcodec.models.common import linear
from fcodec.utils.environment import cpu_info


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FCODEC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FCODEC_FAST_KERNELS", raising=False)
    kernel_choice.clear()
    yield tmp_path / "kernels.json"
    kernel_choice.clear()


@pytest.mark.parametrize(
    "timings,expected",
    [
        ({"plain": [1.0, 0.9], "fast": [0.5, 0.6]}, "fast"),
        ({"plain": [0.5, 0.6], "fast": [1.0, 0.4 + 0.11]}, "plain"),  # slower by its best run: not kept
        ({"plain": [0.5], "fast": [0.5]}, "plain"),  # a tie keeps the plain op
        ({"plain": [0.5, 2.0], "fast": [0.6, 0.55]}, "plain"),  # best run against best run, not a noisy mean
        ({"plain": [1.0], "a": [0.8], "b": [0.7]}, "b"),
        ({"plain": [1.0], "a": [1.2], "b": [1.1]}, "plain"),
    ],
)
def test_pick_never_keeps_a_kernel_slower_than_the_plain_one(timings, expected):
    assert kernel_choice.pick(timings) == expected


def test_pick_needs_the_plain_timing():
    with pytest.raises(ValueError, match="plain"):
        kernel_choice.pick({"fast": [0.1]})


def test_measure_interleaves_and_bounds_the_runs():
    order, now = [], [0.0]

    def clock():
        return now[0]

    def kernel(name, cost):
        def run():
            order.append(name)
            now[0] += cost

        return run

    timings = kernel_choice.measure({"plain": kernel("plain", 1.0), "fast": kernel("fast", 0.5)}, clock)
    assert order[:2] == ["plain", "fast"] and order[2:6] == ["plain", "fast"] * 2  # warm-up, then interleaved
    assert len(timings["plain"]) == kernel_choice.MIN_RUNS  # over budget after the minimum
    assert set(timings["fast"]) == {0.5} and set(timings["plain"]) == {1.0}


def test_injected_timings_decide_and_are_cached_per_cpu_and_torch(cache, monkeypatch):
    measured = []

    def fake_measure(kernels):
        measured.append(sorted(kernels))
        return {"plain": [0.010], "fast": [0.012]}  # the fast kernel measured slower here

    monkeypatch.setattr(kernel_choice, "measure", fake_measure)
    kernels = lambda: {"plain": lambda: None, "fast": lambda: None}  # noqa: E731
    assert kernel_choice.choose("linear", "4x8->16", kernels) == "plain"
    assert kernel_choice.choose("linear", "4x8->16", kernels) == "plain" and len(measured) == 1  # cached
    saved = json.loads(cache.read_text())
    (key,) = saved
    assert cpu_info()["model"] in key and f"torch {torch.__version__}" in key
    assert saved[key] == {"linear 4x8->16": "plain"}
    # a new process reads the file; another torch version (or CPU) measures afresh under its own key
    kernel_choice.clear()
    assert kernel_choice.choose("linear", "4x8->16", kernels) == "plain" and len(measured) == 1
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert kernel_choice.choose("linear", "4x8->16", kernels) == "plain" and len(measured) == 2
    assert len(json.loads(cache.read_text())) == 2


def test_environment_forces_plain_or_fast(cache, monkeypatch):
    def no_measuring(kernels):
        raise AssertionError("must not measure")

    monkeypatch.setattr(kernel_choice, "measure", no_measuring)
    kernels = lambda: {"plain": lambda: None, "fast": lambda: None}  # noqa: E731
    monkeypatch.setenv("FCODEC_FAST_KERNELS", "0")
    assert kernel_choice.choose("linear", "x", kernels) == "plain"
    monkeypatch.setenv("FCODEC_FAST_KERNELS", "1")
    assert kernel_choice.choose("linear", "x", kernels) == "fast"
    assert not cache.exists()


def test_unreadable_cache_is_measured_again(cache, monkeypatch):
    cache.write_text("{not json")
    monkeypatch.setattr(kernel_choice, "measure", lambda kernels: {"plain": [2.0], "fast": [1.0]})
    assert kernel_choice.choose("linear", "x", lambda: {"plain": lambda: None, "fast": lambda: None}) == "fast"
    assert json.loads(cache.read_text())[kernel_choice.machine_key()] == {"linear x": "fast"}


@pytest.mark.parametrize("machine_entry", ["oops", {"linear x": "no_such_kernel"}, {"linear x": 3}])
def test_a_damaged_cache_entry_is_measured_again_never_run(cache, monkeypatch, machine_entry):
    cache.write_text(json.dumps({kernel_choice.machine_key(): machine_entry}))
    monkeypatch.setattr(kernel_choice, "measure", lambda kernels: {"plain": [2.0], "fast": [1.0]})
    assert kernel_choice.choose("linear", "x", lambda: {"plain": lambda: None, "fast": lambda: None}) == "fast"
    assert json.loads(cache.read_text())[kernel_choice.machine_key()] == {"linear x": "fast"}


def test_a_read_only_cache_is_said_once(cache, monkeypatch, caplog):
    import logging

    cache.mkdir()  # kernels.json is a folder: nothing can be written there
    monkeypatch.setattr(kernel_choice, "_unwritable_said", False)
    monkeypatch.setattr(kernel_choice, "measure", lambda kernels: {"plain": [2.0], "fast": [1.0]})
    with caplog.at_level(logging.WARNING, logger=kernel_choice.__name__):
        for shape in ("a", "b", "c"):
            assert (
                kernel_choice.choose("linear", shape, lambda: {"plain": lambda: None, "fast": lambda: None}) == "fast"
            )
    assert len([r for r in caplog.records if "cannot write" in r.message]) == 1


def test_real_measurement_keeps_no_slower_kernel(cache, monkeypatch):
    """One real run: each kernel kept for a linear layer (oneDNN over F.linear, then oneDNN's reordered weight
    over its plain one) was not slower than its baseline on its own measurement."""
    from fcodec.models import fast_linear

    if fast_linear._ONEDNN_LINEAR is None:
        pytest.skip("this torch build has no oneDNN linear: there is nothing to choose")
    runs = []
    real_measure = kernel_choice.measure

    def recording(kernels):
        runs.append(real_measure(kernels))
        return runs[-1]

    monkeypatch.setattr(kernel_choice, "measure", recording)
    x, w, b = torch.randn(4, 512), torch.randn(1024, 512), torch.randn(1024)
    with torch.no_grad():
        y = linear(x, w, b, packed=lambda: fast_linear.reorder_for_onednn(w))
    assert torch.allclose(y, F.linear(x, w, b), atol=1e-4)
    decisions = json.loads(cache.read_text())[kernel_choice.machine_key()]
    # measured on a streaming call's rows, then (unless oneDNN already lost) on an offline call's; where oneDNN
    # won both, its weight layouts are compared at both
    keys = [f"linear {rows}x512->1024" for rows in (4, 256)]
    if all(decisions.get(key) == "onednn" for key in keys) and fast_linear._ONEDNN_REORDER is not None:
        keys += [f"linear_onednn_layout {rows}x512->1024" for rows in (4, 256)]
    keys = keys[: len(runs)]
    assert runs and list(decisions) == keys
    for key, timings in zip(keys, runs):
        fast = "onednn" if key.startswith("linear ") else "reordered"
        assert set(timings) == {"plain", fast}
        best = {name: min(seconds) for name, seconds in timings.items()}
        if decisions[key] == fast:
            assert best[fast] < best["plain"]
        else:
            assert decisions[key] == "plain" and best[fast] >= best["plain"]


def test_reordered_weight_gives_the_same_bytes(cache, monkeypatch):
    """oneDNN from its reordered weight computes exactly what it computes from the plain one, for any row count
    (so the layout may be chosen per row count without a row's result depending on its call)."""
    from fcodec.models import fast_linear

    if fast_linear._ONEDNN_REORDER is None:
        pytest.skip("this torch build cannot reorder oneDNN weights")
    monkeypatch.setenv("FCODEC_FAST_KERNELS", "1")  # oneDNN, reordered weight, without measuring
    w, b = torch.randn(300, 96), torch.randn(300)
    reordered = fast_linear.reorder_for_onednn(w)
    x = torch.randn(400, 96)
    with torch.no_grad():
        full = fast_linear._onednn_linear(x, w, b, False)
        for rows in (2, 4, 5, 64, 65, 400):
            assert torch.equal(linear(x[:rows], w, b, packed=lambda: reordered), full[:rows])
            assert torch.equal(linear(x[:rows], w, b, apply_gelu=True, packed=lambda: reordered), F.gelu(full[:rows]))
