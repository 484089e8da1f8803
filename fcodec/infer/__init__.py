"""Offline and streaming encode/decode."""
from fcodec.infer.streaming import (
    DecoderState,
    EncoderState,
    StreamingCodec,
    StreamingDecoder,
    StreamingEncoder,
    decode_step,
    encode_step,
    stream_file,
    stream_signal,
)

__all__ = [
    "DecoderState",
    "EncoderState",
    "StreamingCodec",
    "StreamingDecoder",
    "StreamingEncoder",
    "decode_step",
    "encode_step",
    "stream_file",
    "stream_signal",
]
