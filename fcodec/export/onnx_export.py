"""Write a model folder's codec as ONNX graphs plus ``onnx_codec.json`` (docs/export.md).

The folder is built beside the destination and renamed into place when complete: a failed or interrupted
export leaves no half-written folder, and an existing one is replaced only with ``force``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

from fcodec.export import onnx_graphs
from fcodec.export.onnx_runtime import FORMAT, META_NAME
from fcodec.infer.streaming import output_samples_per_token, tokens_per_chunk
from fcodec.models import hub
from fcodec.models.codec import FocalCodec
from fcodec.utils.cli import UserError
from fcodec.utils.io import _umask, atomic_write_json, file_sha256
from fcodec.version import __version__

__all__ = ["export_codec", "load_model_folder", "quantize_int8", "ExportError"]


class ExportError(UserError):
    """Bad input to the export (the message names the file or folder and the problem)."""


def load_model_folder(folder: Union[str, Path]) -> tuple:
    """``(model in eval mode, weights path)`` of an fcodec / upstream-format model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder}: not a model folder (no such directory)")
    if not (folder / hub.CONFIG_NAME).is_file():
        raise ExportError(f"{folder}: not a model folder (no {hub.CONFIG_NAME})")
    try:
        _, weights = hub.resolve(folder, pretrained=True)
        model = FocalCodec.from_pretrained(folder)
    except hub.CheckpointError as exc:
        raise ExportError(f"{folder}: not a loadable model ({exc})") from exc
    return model.eval(), weights


def _io(names: List[str], tensors) -> List[Dict[str, Any]]:
    return [
        {"name": n, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)} for n, t in zip(names, tensors)
    ]


def _export(graph, example, path: Path, dynamic_axes) -> Dict[str, Any]:
    with torch.no_grad():
        outputs = graph(*example)
    if isinstance(graph, onnx_graphs.StreamGraph):
        graph.hold_relaid_weights()
    onnx_graphs.export_graph(graph, example, path, graph.input_names, graph.output_names, dynamic_axes)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    entry = {"file": path.name, "inputs": _io(graph.input_names, example), "outputs": _io(graph.output_names, outputs)}
    entry["dynamic_axes"] = {name: {str(k): v for k, v in axes.items()} for name, axes in dynamic_axes.items()}
    return entry


def quantize_int8(src: Path, dst: Path) -> None:
    """onnxruntime's dynamic int8 quantisation (int8 weights per output channel, activations per call) of every
    MatMul, keeping in fp32 what ``FocalCodec.quantize`` keeps (its ``INT8_KEEP_FLOAT``: the WavLM front-end
    convs and the compressor's output layer, where int8 costs the latents most)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # node names are the module path from the first module called as a module: "/compressor/out_proj/MatMul",
    # "/feature_extractor/..." where the graph calls the encoder's parts itself
    paths = [name.split(".") for name in FocalCodec.INT8_KEEP_FLOAT]
    prefixes = tuple("/" + "/".join(path[i:]) + "/" for path in paths for i in range(len(path)))
    graph = onnx.load(str(src), load_external_data=False).graph
    # the streaming graphs' depthwise convs are products with (C, L, T) band matrices (export_forms): a scale per
    # column of such a weight would be shared by all 1024 channels, so weights other than 2-D stay in fp32
    # (FocalCodec.quantize keeps depthwise convs in fp32 too)
    not_2d = {init.name for init in graph.initializer if len(init.dims) != 2}
    keep = [
        node.name
        for node in graph.node
        if node.name.startswith(prefixes) or (node.op_type == "MatMul" and node.input[1] in not_2d)
    ]
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=keep,
    )


def _describe(model: FocalCodec, weights: Optional[Path], source: Path) -> Dict[str, Any]:
    info = model.info()
    model_info = {k: info[k] for k in ("sample_rate_input", "sample_rate_output", "causal", "frame_rate", "bitrate")}
    model_info.update(
        codebook_size=model.codebook_size,
        latent_dim=model.latent_dim,
        chunk_size=model.chunk_size,
        latency_ms=model.latency,
        hop_samples=model.hop_samples,
        encoder_hop=model.encoder.downsample_factor,
        frames_per_token=model.compressor.downsample_factor,
        samples_per_token=output_samples_per_token(model),
        tokens_per_chunk=tokens_per_chunk(model) if model.causal else None,
        num_params=info["num_total_params"],
    )
    return {
        "format": FORMAT,
        "fcodec_version": __version__,
        "opset": onnx_graphs.OPSET,
        "source": {
            "folder": str(source),
            "weights": None if weights is None else weights.name,
            "sha256": None if weights is None else file_sha256(weights),
            "config": model.config,
        },
        "model": model_info,
    }


def export_codec(
    codec_dir: Union[str, Path],
    out_dir: Union[str, Path],
    streaming: Optional[bool] = None,
    int8: bool = False,
    force: bool = False,
    card: bool = False,
    results: Optional[Union[str, Path]] = None,
) -> Dict[str, Any]:
    """Export the codec of ``codec_dir`` to ``out_dir``; returns the written description (``onnx_codec.json``).

    Parameters
    ----------
    codec_dir : str or Path
        A model folder (``config.json`` + weights: the pretrained codec, a run's ``best``, a grown model).
    out_dir : str or Path
        The export folder to create.
    streaming : bool, optional
        Also the streaming graphs; default: when the model is causal.
    int8 : bool, default False
        Also int8 copies of every graph (``*.int8.onnx``, see ``quantize_int8``).
    force : bool, default False
        Replace an existing ``out_dir``.
    card : bool, default False
        Also a model card, ``README.md`` (``fcodec.export.model_card``), with the rows of ``results``
        (RESULTS.md) that name the model's training run.

    Raises
    ------
    ExportError
        ``codec_dir`` is not a model folder, streaming graphs are asked of a non-causal model, or ``out_dir``
        exists without ``force``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise ExportError(f"{out_dir}: output folder exists (pass --force to replace it)")
    model, weights = load_model_folder(codec_dir)
    if streaming and not model.causal:
        raise ExportError(f"{codec_dir}: streaming graphs need a causal model; this one is not causal")
    streaming = model.causal if streaming is None else streaming
    meta = _describe(model, weights, Path(codec_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        graphs = {}
        gen = torch.Generator().manual_seed(0)
        # an example of 2.5 chunks: every causal conv sees its first-call padding and a partial last chunk
        signal = 0.1 * torch.randn(1, model.chunk_size * 5 // 2, generator=gen)
        encode = onnx_graphs.EncodeGraph(model).eval()
        graphs["encode"] = _export(encode, (signal,), tmp / "encode.onnx", encode.dynamic_axes)
        decode = onnx_graphs.DecodeGraph(model).eval()
        with torch.no_grad():
            toks = encode(signal)[0]
        graphs["decode"] = _export(decode, (toks,), tmp / "decode.onnx", decode.dynamic_axes)
        if streaming:
            for name, cls in (
                ("stream_encode", onnx_graphs.StreamEncodeGraph),
                ("stream_decode", onnx_graphs.StreamDecodeGraph),
            ):
                graph = cls(model).eval()
                graphs[name] = _export(graph, graph.example_inputs(), tmp / f"{name}.onnx", graph.dynamic_axes())
                graphs[name]["state"] = graph.state_shapes()
        if int8:
            for name, entry in graphs.items():
                entry["int8_file"] = f"{name}.int8.onnx"
                quantize_int8(tmp / entry["file"], tmp / entry["int8_file"])
        meta["graphs"] = graphs
        atomic_write_json(tmp / META_NAME, meta)
        if card:
            from fcodec.export.model_card import write_model_card

            write_model_card(tmp, meta, results)
        _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return meta


def _replace_dir(new: Path, dest: Path) -> None:
    """Move the complete folder ``new`` to ``dest``; an existing ``dest`` is moved aside first and removed after."""
    os.chmod(new, 0o777 & ~_umask())  # mkdtemp makes 0700; give the folder the permissions mkdir would
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old.{os.getpid()}")
        os.replace(dest, old)
    os.replace(new, dest)
    if old is not None:
        shutil.rmtree(old)
