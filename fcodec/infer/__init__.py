"""Offline and streaming encode/decode, batched test-set decoding (stage 7) and token export.

streaming   chunk-by-chunk encode_step / decode_step with explicit state, StreamingCodec
stream_run  stream_signal, stream_file: a whole signal or file streamed as a live source would
slots       the batched state storage and step capture MultiStreamCodec is built from
multistream MultiStreamCodec: many independent streams (joining and leaving) in one batched step per chunk
batched     encode_decode: many utterances per call, each exactly as if alone (offline or streaming)
tokens      codec tokens attached to lhotse cuts (cut.codec_tokens)
decode      decode_cuts: one test cut set -> the decode directory scoring reads (resumable); its batches in
            decode_batch, its journal in decode_journal, load_codec and the thread count in runtime
"""

from fcodec.infer.batched import CodecResult, encode_decode
from fcodec.infer.decode import DecodeOptions, decode_cuts
from fcodec.infer.multistream import MultiStreamCodec
from fcodec.infer.runtime import load_codec
from fcodec.infer.stream_run import stream_file, stream_signal
from fcodec.infer.streaming import (
    DecoderState,
    EncoderState,
    StreamingCodec,
    StreamingDecoder,
    StreamingEncoder,
    decode_step,
    encode_step,
)
from fcodec.infer.tokens import TOKENS_FIELD, load_tokens

__all__ = [
    "CodecResult",
    "DecodeOptions",
    "DecoderState",
    "EncoderState",
    "MultiStreamCodec",
    "StreamingCodec",
    "StreamingDecoder",
    "StreamingEncoder",
    "TOKENS_FIELD",
    "decode_cuts",
    "decode_step",
    "encode_decode",
    "encode_step",
    "load_codec",
    "load_tokens",
    "stream_file",
    "stream_signal",
]
