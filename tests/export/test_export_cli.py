"""``fcodec.bin.export_onnx``: bad input gets one clear line, an existing export is replaced only with --force
(and atomically), a non-causal model exports offline graphs only; ``fcodec.bin.stream --backend onnx`` streams a
real recording through the graphs with the PyTorch stream's tokens."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from fcodec.bin import export_onnx, stream
from fcodec.export.onnx_runtime import OnnxCodec
from fcodec.models import FocalCodec, configs
from tests.export.test_onnx_export import unexplained_token_differences

CLIP = "librispeech-dev-clean/84/84-121123-0005.wav"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    FocalCodec(**configs.tiny_causal_config()).save_pretrained(root / "causal")
    torch.manual_seed(0)
    FocalCodec(**configs.tiny_noncausal_config((2, 1))).save_pretrained(root / "noncausal")
    return root


def run(capsys, *args):
    code = export_onnx.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_not_a_model_folder(models, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        code, _, err = run(capsys, "--codec", folder, "--out", tmp_path / "out")
        assert code != 0 and len(err.strip().splitlines()) == 1
        assert str(folder) in err and "not a model folder" in err
    assert not (tmp_path / "out").exists()


def test_non_causal_model_exports_offline_graphs_only(models, tmp_path, capsys):
    code, _, err = run(capsys, "--codec", models / "noncausal", "--out", tmp_path / "out", "--streaming")
    assert code != 0 and "not causal" in err and str(models / "noncausal") in err
    assert not (tmp_path / "out").exists()
    code, out, _ = run(capsys, "--codec", models / "noncausal", "--out", tmp_path / "out")
    assert code == 0 and sorted(json.loads(out)["graphs"]) == ["decode", "encode"]
    codec, model = OnnxCodec(tmp_path / "out", threads=1), FocalCodec.from_pretrained(models / "noncausal").eval()
    for length in (9001, 20480, 20800):  # not the exported example's length; odd and even frame counts
        sig = torch.from_numpy(np.random.default_rng(length).standard_normal((1, length), np.float32) * 0.1)
        with torch.no_grad():
            ref_lats = model.sig_to_lats(sig)
        toks, _ = codec.encode(sig)
        ref_toks = model.lats_to_toks(ref_lats)
        assert unexplained_token_differences(ref_toks, toks, ref_lats, model) == 0
        # the Vocos decoder's inverse STFT as matrix products and a transposed-conv overlap-add
        with torch.no_grad():
            ref = model.toks_to_sig(ref_toks, output_length=model.output_length(length))
        audio = codec.decode(ref_toks, codec.output_length(length))
        assert audio.shape == tuple(ref.shape)
        assert np.abs(audio - ref.numpy()).max() <= 1e-4 * ref.abs().max().item()
    with pytest.raises(ValueError, match="non-causal"):
        codec.stream()


def test_existing_output_needs_force_and_is_replaced_whole(models, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "--codec", models / "causal", "--out", out)
    assert code != 0 and "exists" in err and "--force" in err
    assert (out / "keep.txt").read_text() == "mine"
    code, _, _ = run(capsys, "--codec", models / "causal", "--out", out, "--force")
    assert code == 0 and not (out / "keep.txt").exists() and (out / "onnx_codec.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left beside it


def test_stream_backend_onnx_on_real_speech(models, tmp_path, capsys, real_audio_dir):
    code, _, _ = run(capsys, "--codec", models / "causal", "--out", tmp_path / "onnx")
    assert code == 0
    wav = real_audio_dir / CLIP
    args = [str(wav), "--threads", "1"]
    assert (
        stream.main(
            [
                args[0],
                str(tmp_path / "torch.wav"),
                "--codec",
                str(models / "causal"),
                "--tokens",
                str(tmp_path / "t.npy"),
                *args[1:],
            ]
        )
        == 0
    )
    assert (
        stream.main(
            [
                args[0],
                str(tmp_path / "onnx.wav"),
                "--backend",
                "onnx",
                "--codec",
                str(tmp_path / "onnx"),
                "--tokens",
                str(tmp_path / "o.npy"),
                *args[1:],
            ]
        )
        == 0
    )
    ref, out = sf.read(tmp_path / "torch.wav"), sf.read(tmp_path / "onnx.wav")
    assert out[1] == ref[1] == 24000 and out[0].shape == ref[0].shape
    model = FocalCodec.from_pretrained(models / "causal").eval()
    sig = torch.from_numpy(np.asarray(sf.read(wav, dtype="float32")[0]))[None]
    with torch.no_grad():
        lats = model.sig_to_lats(sig)
    assert (
        unexplained_token_differences(np.load(tmp_path / "t.npy")[None], np.load(tmp_path / "o.npy")[None], lats, model)
        == 0
    )
    capsys.readouterr()
    assert np.abs(out[0] - ref[0]).max() <= 2 / 32768  # the same audio up to 16-bit rounding
    # the backend refuses a model folder that is not an export, in one line
    code = stream.main([args[0], str(tmp_path / "x.wav"), "--backend", "onnx", "--codec", str(models / "causal")])
    assert code == 1 and "not an ONNX codec export" in capsys.readouterr().err


def test_model_card_from_the_runs_records(models, tmp_path, capsys):
    run_dir = tmp_path / "exp" / "train_25hz"
    FocalCodec.from_pretrained(models / "causal").save_pretrained(run_dir / "best")
    (run_dir / "init.json").write_text(json.dumps({"init_from": "exp/train_50hz/best", "grown_layer_pairs": 1}))
    (run_dir / "train_summary.json").write_text(json.dumps({"steps": 1200, "best_dev_loss": 3.25}))
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "# Results\n\n## test_aishell\n\n| model | dCER |\n| --- | --- |\n| pretrained | 1.0 |\n"
        "| train_25hz | 2.5 |\n| train_12.5hz | 4.0 |\n"
    )
    code, _, _ = run(capsys, "--codec", run_dir / "best", "--out", tmp_path / "onnx", "--card", "--results", results)
    card = (tmp_path / "onnx" / "README.md").read_text()
    assert code == 0 and card.startswith("---\nlicense: apache-2.0\n")
    assert (
        "| started from | exp/train_50hz/best (grown by 1 layer pair(s)) |" in card
        and "1200" in card
        and "550 bps" in card
    )
    assert "## test_aishell" in card and "| train_25hz | 2.5 |" in card
    assert "pretrained | 1.0" not in card and "train_12.5hz" not in card
    assert "Apache-2.0" in card and "MIT" in card
