"""Shipping a trained codec: ONNX graphs (``onnx_graphs``), the folder writer (``onnx_export``), the onnxruntime
codec and stream object (``onnx_runtime``) and the model card (``model_card``); docs/export.md."""

from fcodec.export.onnx_runtime import OnnxCodec, OnnxStreamingCodec

__all__ = ["OnnxCodec", "OnnxStreamingCodec"]
