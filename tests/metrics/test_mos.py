"""UTMOS is used only when its code and weights are on disk; otherwise the reason is reported, never a value."""

from fcodec.metrics.mos import CHECKPOINT, find_mos_predictor


def test_missing_code_is_reported(tmp_path):
    predictor, reason = find_mos_predictor(tmp_path / "SpeechMOS")
    assert predictor is None
    assert reason.startswith("MOS skipped: no UTMOS code") and str(tmp_path / "SpeechMOS") in reason


def test_missing_weights_are_reported(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # an empty torch.hub cache
    repo = tmp_path / "SpeechMOS"
    repo.mkdir()
    (repo / "hubconf.py").write_text("dependencies = ['torch']\n")
    predictor, reason = find_mos_predictor(repo)
    assert predictor is None
    assert reason.startswith(f"MOS skipped: UTMOS weights {CHECKPOINT} not found")


def test_broken_hub_code_is_reported_not_raised(tmp_path):
    repo = tmp_path / "SpeechMOS"
    repo.mkdir()
    (repo / "hubconf.py").write_text("import torchaudio_that_is_not_installed\n")
    (repo / CHECKPOINT).write_bytes(b"")
    predictor, reason = find_mos_predictor(repo)
    assert predictor is None and "failed to load" in reason and "ModuleNotFoundError" in reason


def test_skip_reason_shows_the_home_folder_as_a_tilde(tmp_path, monkeypatch):
    """RESULTS.md is committed with real recipes: the reason must not carry a machine-specific path."""
    monkeypatch.setenv("HOME", str(tmp_path))
    predictor, reason = find_mos_predictor(tmp_path / "hub" / "SpeechMOS")
    assert predictor is None and "~/hub/SpeechMOS" in reason and str(tmp_path) not in reason
