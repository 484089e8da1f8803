"""DNSMOS P.835's layers as onnxruntime graphs built here from the initializers of speechmos's ``sig_bak_ovr.onnx``,
for the windowing of :func:`fcodec.metrics.dnsmos_torch.p835_windows` (the full-resolution layers once per
utterance, not once per window).

Why onnxruntime: on the CPU its convolutions (MLAS) run these 3x3 layers 2-3x faster than torch's oneDNN ones
(measured on an Intel Xeon with AVX-512, 2 threads: the 128 -> 64 layer at about 160 GFLOP/s against 90), and
the full-resolution layers are about 97 % of DNSMOS's work. The graphs are two: the trunk (four 3x3 convolutions
with ReLU and the first 2x2 max pool) and the head (three more convolutions and pools, a global max and the
dense layers), with the rows (time) left free. Only initializers are read from speechmos's file; the nodes are
written here, layer for layer as in :class:`fcodec.metrics.dnsmos_torch.P835Net`, which the tests compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from fcodec.metrics.dnsmos_torch import FRAME, checked_weight, log_power, read_onnx_weights

OPSET = 17  # ReduceMax takes its axes as an attribute up to opset 17
TRUNK = ("conv2d", "conv2d_1", "conv2d_2", "conv2d_3")  # the full-resolution layers


def _conv_relu(nodes: List, weights, path, name: str, widths: tuple, x: str, pool_first: bool = False) -> str:
    """Append [MaxPool 2x2,] Conv 3x3 (zero padding 1, ``widths``: (in, out) channels) and ReLU reading ``x``;
    return the output's name."""
    from onnx import helper

    if pool_first:
        nodes.append(helper.make_node("MaxPool", [x], [f"{name}/pool"], kernel_shape=[2, 2], strides=[2, 2]))
        x = f"{name}/pool"
    kernel, bias = f"{name}/kernel:0", f"{name}/bias:0"
    checked_weight(weights, kernel, (widths[1], widths[0], 3, 3), path)
    checked_weight(weights, bias, (widths[1],), path)
    nodes.append(helper.make_node("Conv", [x, kernel, bias], [f"{name}/conv"], kernel_shape=[3, 3], pads=[1] * 4))
    nodes.append(helper.make_node("Relu", [f"{name}/conv"], [f"{name}/relu"]))
    return f"{name}/relu"


def _model(nodes: List, weights: Dict[str, np.ndarray], used: Sequence[str], inputs, outputs) -> bytes:
    from onnx import helper, numpy_helper

    initializers = [numpy_helper.from_array(np.ascontiguousarray(weights[k], dtype=np.float32), k) for k in used]
    graph = helper.make_graph(nodes, "dnsmos_p835_part", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # read by every onnxruntime from 1.10 on
    return model.SerializeToString()


def trunk_graph(weights: Dict[str, np.ndarray], path) -> bytes:
    """(N, 1, rows, 161) log power -> (N, 32, rows // 2, 80): conv2d .. conv2d_3 with ReLU, then a 2x2 max pool."""
    from onnx import TensorProto, helper

    nodes: List = []
    x = "image"
    for name, widths in zip(TRUNK, ((1, 128), (128, 64), (64, 64), (64, 32))):
        x = _conv_relu(nodes, weights, path, name, widths, x)
    nodes.append(helper.make_node("MaxPool", [x], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]))
    used = [f"{n}/{k}:0" for n in TRUNK for k in ("kernel", "bias")]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, "rows", 161])]
    outputs = [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["n", 32, "half_rows", 80])]
    return _model(nodes, weights, used, inputs, outputs)


def head_graph(weights: Dict[str, np.ndarray], path) -> bytes:
    """(N, 32, 450, 80) pooled trunk of whole windows -> (N, 3) raw SIG, BAK, OVRL."""
    from onnx import TensorProto, helper

    nodes: List = []
    x = _conv_relu(nodes, weights, path, "conv2d_4", (32, 32), "pooled")
    x = _conv_relu(nodes, weights, path, "conv2d_5", (32, 32), x, pool_first=True)
    x = _conv_relu(nodes, weights, path, "conv2d_6", (32, 64), x, pool_first=True)
    nodes.append(helper.make_node("ReduceMax", [x], ["global"], axes=[2, 3], keepdims=0))
    used = [f"{n}/{k}:0" for n in ("conv2d_4", "conv2d_5", "conv2d_6") for k in ("kernel", "bias")]
    x = "global"
    layers = (("dense", 64, 128), ("dense_1", 128, 64), ("dense_3", 64, 3))
    for i, (layer, width_in, width_out) in enumerate(layers):
        prefix = f"mos_estimator_logpow/{layer}"
        matrix, bias = f"{prefix}/MatMul/ReadVariableOp/resource:0", f"{prefix}/BiasAdd/ReadVariableOp/resource:0"
        checked_weight(weights, matrix, (width_in, width_out), path)
        checked_weight(weights, bias, (width_out,), path)
        used += [matrix, bias]
        nodes.append(helper.make_node("MatMul", [x, matrix], [f"{layer}/matmul"]))
        nodes.append(helper.make_node("Add", [f"{layer}/matmul", bias], [f"{layer}/out"]))
        x = f"{layer}/out"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"{layer}/relu"]))
            x = f"{layer}/relu"
    nodes.append(helper.make_node("Identity", [x], ["raw"]))
    inputs = [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["n", 32, 450, 80])]
    outputs = [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["n", 3])]
    return _model(nodes, weights, used, inputs, outputs)


class P835Graphs:
    """The P.835 network in onnxruntime, with :class:`~fcodec.metrics.dnsmos_torch.P835Net`'s interface as
    :func:`~fcodec.metrics.dnsmos_torch.p835_windows` uses it (CPU tensors in and out)."""

    def __init__(
        self, path: Union[str, Path], num_threads: int = 0, providers: Sequence[str] = ("CPUExecutionProvider",)
    ):
        import onnxruntime as ort

        weights = read_onnx_weights(path)  # each check names the file when it is not speechmos's P.835 model
        real, imag = (
            checked_weight(weights, f"time2freq/stft-{part}/kernel:0", (161, FRAME, 1), path)[:, :, 0]
            for part in ("real", "imag")
        )
        self.dft = torch.from_numpy(np.concatenate([real, imag]).T.copy())  # (320, 322), as P835Net's
        self.trunk_session, self.head_session = (
            ort.InferenceSession(graph(weights, path), session_options(ort, num_threads), providers=list(providers))
            for graph in (trunk_graph, head_graph)
        )

    def log_power(self, audio: Tensor, frames: int) -> Tensor:
        return log_power(self.dft, audio, frames)

    def pooled_trunk(self, image: Tensor) -> Tensor:
        """(N, rows, 161) -> (N, 32, rows // 2, 80)."""
        feed = {"image": np.ascontiguousarray(image[:, None].numpy())}
        return torch.from_numpy(self.trunk_session.run(None, feed)[0])

    def head(self, pooled: Tensor) -> Tensor:
        """(N, 32, 450, 80) -> (N, 3)."""
        return torch.from_numpy(self.head_session.run(None, {"pooled": np.ascontiguousarray(pooled.numpy())})[0])


def session_options(ort, num_threads: int):
    """onnxruntime options with ``num_threads`` intra-op threads (0: its default, all cores)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(num_threads)
    # the judge alternates three sessions and torch ops: a session's idle workers spinning after its run take
    # the cores from the next one (as in fcodec.export.onnx_runtime). bench_scoring.py --only-mos, Intel Xeon,
    # 2 threads, three runs each: 2.78-3.48 clips/s with spinning, 3.36-3.92 without
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
