"""Checkpoint files: save/load round trips, upstream layouts, legacy keys, and clear errors on bad input."""

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from fcodec.models import CheckpointError, FocalCodec, configs, hub
from tests.models.conftest import speechlike


def outputs(model, sig):
    with torch.no_grad():
        toks, _, rec = model(sig)
    return toks, rec


def same_model(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_load_round_trip(tmp_path, tiny_causal):
    folder = tiny_causal.save_pretrained(tmp_path / "codec")
    names = sorted(os.listdir(folder))
    assert names == ["config.json", "config.safetensors", "model.safetensors"]
    assert os.path.islink(tmp_path / "codec" / "config.safetensors")  # for upstream's stem rule, no copy
    config = json.loads((tmp_path / "codec" / "config.json").read_text())
    assert list(config) == list(hub.CONFIG_KEYS) and config == tiny_causal.config
    loaded = FocalCodec.from_pretrained(folder).eval()
    assert same_model(loaded, tiny_causal) and loaded.model_id == str(folder)
    sig = speechlike(1, 5000)
    assert all(torch.equal(x, y) for x, y in zip(outputs(loaded, sig), outputs(tiny_causal, sig)))
    # the same folder through a config path, with and without .json (upstream's resolution rules)
    for src in (tmp_path / "codec" / "config.json", str(tmp_path / "codec" / "config")):
        assert same_model(FocalCodec.from_pretrained(src), tiny_causal)
    # pretrained=False builds from the config only
    fresh = FocalCodec.from_config(str(tmp_path / "codec" / "config.json"))
    assert not same_model(fresh, tiny_causal) and fresh.config == tiny_causal.config


def test_upstream_style_writers_and_overrides(tmp_path, tiny_causal):
    tiny_causal.to_pretrained(str(tmp_path / "exp" / "codec"))  # upstream semantics: X.json + X.safetensors
    assert sorted(os.listdir(tmp_path / "exp")) == ["codec.json", "codec.safetensors"]
    model = FocalCodec.from_pretrained(
        str(tmp_path / "exp" / "codec"), overrides={"encoder_config.max_cached_steps": 0}
    )
    assert same_model(model, tiny_causal) and model.encoder_config["max_cached_steps"] == 0
    # an existing folder given to to_pretrained gets the folder layout
    (tmp_path / "dir").mkdir()
    tiny_causal.to_pretrained(str(tmp_path / "dir"))
    assert (tmp_path / "dir" / "config.json").is_file() and (tmp_path / "dir" / "model.safetensors").is_file()
    with pytest.raises(CheckpointError, match="Invalid decoder_config"):
        FocalCodec.from_pretrained(tmp_path / "dir", overrides={"decoder_config.bogus": 1})


def test_pt_weights_load_only_tensors(tmp_path, tiny_causal):
    folder = tmp_path / "pt"
    folder.mkdir()
    shutil.copy(tiny_causal.save_pretrained(tmp_path / "st") + "/config.json", folder / "config.json")
    torch.save(tiny_causal.state_dict(), folder / "model.pt")
    assert same_model(FocalCodec.from_pretrained(folder), tiny_causal)
    # a pickle that needs arbitrary code is refused by weights_only=True
    torch.save({"weights": tiny_causal.state_dict(), "hook": os.system}, folder / "model.pt")
    with pytest.raises(CheckpointError, match=r"model\.pt"):
        FocalCodec.from_pretrained(folder)


def test_legacy_v001_layout_is_remapped(tmp_path, tiny_causal):
    legacy = {}
    for key, value in tiny_causal.state_dict().items():
        if ".attention.qkv_proj." in key:
            q, k, v = value.chunk(3, dim=0)
            kind = key.rsplit(".", 1)[1]
            base = key.replace(f"qkv_proj.{kind}", "")
            legacy.update({f"{base}q_proj.{kind}": q, f"{base}k_proj.{kind}": k, f"{base}v_proj.{kind}": v})
            continue
        for module, position in (
            ("compressor", {"downscale": 0, "focal_block": 1}),
            ("decompressor", {"focal_block": 0, "upscale": 1}),
        ):
            for name, index in position.items():
                parts = key.split(".")
                if parts[0] == module and parts[1] == "layers" and parts[3] == name:
                    key = ".".join(parts[:3] + [str(index)] + parts[4:])
        legacy[key] = value.clone()
    legacy.update(
        {
            "quantizer.mask": torch.arange(11),
            "encoder.encoder.norm.weight": torch.ones(64),
            "encoder.encoder.norm.bias": torch.zeros(64),
        }
    )
    folder = tmp_path / "legacy"
    folder.mkdir()
    hub.write_config(tiny_causal.config, folder / "config.json")
    save_file(legacy, str(folder / "model.safetensors"))
    assert same_model(FocalCodec.from_pretrained(folder), tiny_causal)


def test_wrong_and_missing_keys_are_listed(tmp_path, tiny_causal):
    folder = tiny_causal.save_pretrained(tmp_path / "codec")
    weights = load_file(f"{folder}/model.safetensors")
    weights.pop("decoder.head.proj.bias")
    weights["decoder.extra.weight"] = torch.zeros(1)
    weights["compressor.out_proj.weight"] = torch.zeros(3, 3)
    os.remove(f"{folder}/model.safetensors")
    save_file(weights, f"{folder}/model.safetensors")
    with pytest.raises(CheckpointError) as err:
        FocalCodec.from_pretrained(folder)
    message = str(err.value)
    assert "decoder.head.proj.bias" in message and "decoder.extra.weight" in message
    assert "compressor.out_proj.weight: checkpoint (3, 3)" in message and "model.safetensors" in message


def test_bad_files_fail_clearly(tmp_path, tiny_causal):
    folder = tiny_causal.save_pretrained(tmp_path / "codec")
    (tmp_path / "codec" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="Could not read codec weights .*model.safetensors"):
        FocalCodec.from_pretrained(folder)
    (tmp_path / "codec" / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="Could not read codec config"):
        FocalCodec.from_pretrained(folder)
    (tmp_path / "codec" / "config.json").write_text(json.dumps({"encoder_name": "WavLM", "bogus": 1}))
    with pytest.raises(CheckpointError, match="unknown keys"):
        FocalCodec.from_pretrained(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no config.json"):
        FocalCodec.from_pretrained(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="No codec at"):
        FocalCodec.from_pretrained(str(tmp_path / "no" / "such" / "place"))
    (tmp_path / "onlyconfig").mkdir()
    hub.write_config(tiny_causal.config, tmp_path / "onlyconfig" / "config.json")
    with pytest.raises(CheckpointError, match="No weights for"):
        FocalCodec.from_pretrained(tmp_path / "onlyconfig")


def test_offline_repo_id_names_repo_and_manual_steps(tmp_path):
    with pytest.raises(CheckpointError) as err:
        FocalCodec.from_pretrained(
            "lucadellalib/focalcodec_50hz_2k_causal", cache_dir=str(tmp_path), local_files_only=True
        )
    message = str(err.value)
    assert "lucadellalib/focalcodec_50hz_2k_causal" in message and "no cached copy" in message
    assert "config.json" in message and "model.safetensors" in message and "folder" in message


def test_repo_id_and_sub_config_resolution(tmp_path, monkeypatch, tiny_causal):
    """hf_hub_download replaced by a local 'hub' (no network here): checks which files get asked for."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    remote = tmp_path / "remote"
    tiny_causal.save_pretrained(remote / "owner" / "repo")
    tiny_causal.to_pretrained(str(remote / "owner" / "repo" / "variant"))
    os.remove(remote / "owner" / "repo" / "model.safetensors")
    torch.save(tiny_causal.state_dict(), remote / "owner" / "repo" / "model.pt")  # only .pt: exercises fallback
    requests = []

    def fake_download(repo_id, filename, **kwargs):
        requests.append((repo_id, filename, kwargs.get("revision")))
        path = remote / repo_id / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.chdir(tmp_path)
    model = FocalCodec.from_pretrained("owner/repo", revision="abc")
    assert same_model(model, tiny_causal) and model.model_id == "owner/repo"
    assert requests == [
        ("owner/repo", "config.json", "abc"),
        ("owner/repo", "model.safetensors", "abc"),
        ("owner/repo", "model.pt", "abc"),
    ]
    requests.clear()
    assert same_model(FocalCodec.from_pretrained("owner/repo/variant.json"), tiny_causal)
    assert requests == [("owner/repo", "variant.json", None), ("owner/repo", "variant.safetensors", None)]
    with pytest.raises(CheckpointError, match="owner/missing"):
        FocalCodec.from_pretrained("owner/missing")


def test_make_tiny_and_fetch_clis(tmp_path, capsys):
    from fcodec.bin.fetch_codec import main as fetch
    from fcodec.bin.make_tiny_codec import main as make

    make(["--out", str(tmp_path / "tiny"), "--seed", "3"])
    info = json.loads(capsys.readouterr().out)
    assert info["frame_rate"] == 50.0 and info["bitrate"] == 550.0 and info["sample_rate_output"] == 24000
    tiny = FocalCodec.from_pretrained(tmp_path / "tiny")
    assert tiny.config == configs.tiny_causal_config() and tiny.causal
    make(["--out", str(tmp_path / "tiny2"), "--seed", "3"])
    assert same_model(FocalCodec.from_pretrained(tmp_path / "tiny2"), tiny)  # the seed fixes the weights
    assert fetch([str(tmp_path / "tiny"), "--out", str(tmp_path / "copy")]) == 0
    assert same_model(FocalCodec.from_pretrained(tmp_path / "copy"), tiny)
    capsys.readouterr()
    assert fetch([str(tmp_path / "nothing-here"), "--out", str(tmp_path / "x")]) == 1
    assert "No codec at" in capsys.readouterr().err
