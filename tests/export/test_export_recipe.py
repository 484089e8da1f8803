"""A clean checkout exports the mini recipe's trained models (the session's shared run, through stage 6) with
the documented command (docs/export.md), each with its model card, and streams a recording of the recipe's
test set through each export's ONNX graphs."""

import json

import numpy as np
import pytest
import soundfile as sf

from fcodec.bin import export_onnx, stream
from fcodec.models import FocalCodec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(mini_recipe_run):
    """The session's mini recipe run through stage 6 (tests/mini_recipe_run.py): its three trained models."""
    return mini_recipe_run.borrow("4-6")


@pytest.mark.parametrize("rate,bitrate", [("50hz", 550), ("25hz", 275), ("12.5hz", 137.5)])
def test_export_and_stream_each_trained_model(trained, tmp_path, capsys, rate, bitrate):
    best = trained / "exp" / f"train_{rate}" / "best"
    out = trained / "exp" / "onnx" / rate
    assert export_onnx.main(["--codec", str(best), "--out", str(out), "--int8", "--card"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["bitrate"] == bitrate and sorted(printed["graphs"]) == [
        "decode",
        "encode",
        "stream_decode",
        "stream_encode",
    ]
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense:") and f"{bitrate:g} bps" in card
    assert "| started from | unknown" not in card  # the run's init.json was found
    assert "aishell_train (zh)" in card and "librispeech_train-clean-100 (en)" in card  # hours per corpus part
    wav = next((trained / "download").rglob("*.wav"))
    for int8 in ([], ["--quantize", "int8"]):
        target = tmp_path / f"out{len(int8)}.wav"
        assert stream.main([str(wav), str(target), "--backend", "onnx", "--codec", str(out), *int8]) == 0
        audio, rate_out = sf.read(target)
        model = FocalCodec.from_pretrained(best)
        info = sf.info(wav)
        assert rate_out == model.sample_rate_output and np.isfinite(audio).all()
        expected = model.output_length(round(info.frames * 16000 / info.samplerate))
        assert abs(len(audio) - expected) <= 1
