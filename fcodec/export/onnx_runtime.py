"""The exported codec on onnxruntime: offline ``encode`` / ``decode`` and a stream object with the interface of
``fcodec.infer.streaming.StreamingCodec`` (``push`` / ``flush`` / ``reset``, torch tensors in and out).

    codec = OnnxCodec("exp/onnx/50hz")              # or OnnxCodec(folder, int8=True) for the int8 graphs
    toks, lats = codec.encode(sig)                   # (B, N) 16 kHz -> (B, L) int64, (B, L, D)
    audio = codec.decode(toks, codec.output_length(sig.shape[-1]))
    stream = codec.stream(); toks, audio = stream.push(chunk); ...; stream.flush()

The streaming state lives in onnxruntime's own tensors (``OrtValue``): each step's state outputs are the next
step's inputs, never copied through numpy (the key/value cache of the full-size encoder is 24 MB per stream).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = ["OnnxCodec", "OnnxStreamingCodec", "META_NAME", "FORMAT"]

META_NAME = "onnx_codec.json"
FORMAT = "fcodec-onnx/1"

Array = Union[np.ndarray, torch.Tensor]


def _numpy(x: Array, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x, dtype=dtype)
    return x[None] if x.ndim == 1 else x


def read_meta(folder: Union[str, Path]) -> Dict[str, Any]:
    """The export's JSON description; ``ValueError`` naming the folder if it is not an fcodec ONNX export."""
    path = Path(folder) / META_NAME
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"{folder} is not an ONNX codec export (no {META_NAME}; make one with fcodec.bin.export_onnx)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable ONNX codec description ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not an fcodec ONNX description of format {FORMAT!r}")
    return meta


class OnnxCodec:
    """An exported codec folder (``fcodec.bin.export_onnx``) run by onnxruntime.

    Parameters
    ----------
    folder : str or Path
        The export folder (``onnx_codec.json`` and the graphs).
    int8 : bool, default False
        Run the int8 graphs (exported with ``--int8``).
    threads : int, optional
        Intra-op threads of each session (default: onnxruntime's, one per core).
    providers : sequence of str, optional
        onnxruntime execution providers (default CPU).

    Raises
    ------
    ValueError
        ``folder`` is not an export, or has no int8 graphs when ``int8`` is asked for.
    """

    def __init__(
        self,
        folder: Union[str, Path],
        int8: bool = False,
        threads: Optional[int] = None,
        providers: Optional[Sequence[str]] = None,
    ) -> None:
        self.folder = Path(folder)
        self.meta = read_meta(folder)
        self.int8 = int8
        self.threads = threads
        self.providers = list(providers or ["CPUExecutionProvider"])
        if int8 and not all("int8_file" in g for g in self.meta["graphs"].values()):
            raise ValueError(f"{folder}: no int8 graphs in this export (export again with --int8)")
        self._sessions: Dict[str, Any] = {}

    # description ------------------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # the rates and sizes of the source model, as FocalCodec names them (sample_rate_input, chunk_size, ...)
        meta = self.__dict__.get("meta")
        if meta is not None and name in meta.get("model", {}):
            return meta["model"][name]
        raise AttributeError(name)

    def output_length(self, num_samples: int) -> int:
        """Output samples for ``num_samples`` input samples, as ``FocalCodec.output_length``."""
        return num_samples * self.sample_rate_output // self.sample_rate_input

    def session(self, graph: str):
        """The onnxruntime session of one graph ('encode', 'decode', 'stream_encode', 'stream_decode')."""
        if graph not in self._sessions:
            import onnxruntime as ort

            entry = self.meta["graphs"].get(graph)
            if entry is None:
                raise ValueError(
                    f"{self.folder}: this export has no {graph!r} graph (a non-causal model does not stream)"
                )
            options = ort.SessionOptions()
            # a stream alternates two sessions (encode, decode) every 80 ms; a session's idle workers spin for a
            # while after each run and take the cores from the other's (full-size model, Intel Xeon, 2 threads:
            # a streaming step of 124 ms with spinning, 89 ms without; int8 88 -> 57 ms)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            if self.threads:
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
            path = self.folder / entry["int8_file" if self.int8 else "file"]
            self._sessions[graph] = ort.InferenceSession(str(path), options, providers=self.providers)
        return self._sessions[graph]

    # offline ----------------------------------------------------------------------------------------------
    def encode(self, sig: Array) -> Tuple[np.ndarray, np.ndarray]:
        """``(tokens (B, L) int64, latents (B, L, D) float32)`` of waveforms ``(B, N)`` or ``(N,)`` at 16 kHz."""
        toks, lats = self.session("encode").run(None, {"signal": _numpy(sig, np.float32)})
        return toks, lats

    def decode(self, toks: Array, output_length: Optional[int] = None) -> np.ndarray:
        """Waveforms ``(B, L * samples_per_token)`` at ``sample_rate_output`` of tokens ``(B, L)``; with
        ``output_length``, cut (or padded by repeating the last sample) to that many samples."""
        (audio,) = self.session("decode").run(None, {"tokens": _numpy(toks, np.int64)})
        if output_length is not None:
            if audio.shape[1] >= output_length:
                audio = audio[:, :output_length]
            else:
                audio = np.pad(audio, ((0, 0), (0, output_length - audio.shape[1])), mode="edge")
        return audio

    def stream(self) -> "OnnxStreamingCodec":
        """A new stream (``StreamingCodec``'s interface) through the streaming graphs."""
        return OnnxStreamingCodec(self)


class _Step:
    """One streaming graph with its per-stream state kept as OrtValues between calls."""

    def __init__(self, codec: OnnxCodec, graph: str, batch: int) -> None:
        from onnxruntime import OrtValue

        self.session = codec.session(graph)
        entry = codec.meta["graphs"][graph]
        self.input_names = [i["name"] for i in entry["inputs"]]
        self.output_names = [o["name"] for o in entry["outputs"]]
        self.state_names = self.input_names[3:]
        self._value = OrtValue.ortvalue_from_numpy
        # state shapes as exported (per stream); new streams start from zeros, with a zero position counter
        self.state = [self._value(np.zeros((batch, *entry["state"][name]), np.float32)) for name in self.state_names]
        self.seen = self._value(np.zeros(batch, np.int64))

    def __call__(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        feeds = dict(zip(self.input_names, [self._value(x), self._value(valid), self.seen, *self.state]))
        outputs = self.session.run_with_ort_values(self.output_names, feeds)
        self.seen, self.state = outputs[1], list(outputs[2:])
        return outputs[0].numpy()


class OnnxStreamingCodec:
    """Samples in, ``(tokens, reconstruction)`` out, one 80 ms chunk at a time; the interface and results of
    ``fcodec.infer.streaming.StreamingCodec`` (tokens equal to one offline pass, audio up to float rounding).

    Raises
    ------
    ValueError
        The export has no streaming graphs (a non-causal model).
    """

    def __init__(self, codec: OnnxCodec) -> None:
        if not codec.causal:
            raise ValueError(f"{codec.folder}: streaming needs a causal codec; this export is of a non-causal one")
        if "stream_encode" not in codec.meta["graphs"]:
            raise ValueError(f"{codec.folder}: exported without streaming graphs (--no-streaming); export again")
        self.codec = codec
        self.chunk_size = codec.chunk_size
        self.per_chunk = codec.tokens_per_chunk
        self.reset()

    def reset(self) -> None:
        self._samples: Optional[np.ndarray] = None
        self._tokens: Optional[np.ndarray] = None
        self._encoder: Optional[_Step] = None
        self._decoder: Optional[_Step] = None
        self.samples_in = 0
        self.tokens_out = 0
        self.finished = False

    def _check_open(self) -> None:
        if self.finished:
            raise RuntimeError("this stream was finished (flush); reset() starts a new one")

    def encode_chunk(self, chunk: np.ndarray) -> np.ndarray:
        """Tokens ``(B, k)`` of one chunk ``(B, n)``, n <= chunk_size (shorter: the stream's last); the
        step ``push`` and ``flush`` run per chunk (and the benchmark times)."""
        num = chunk.shape[-1]
        if self._encoder is None:
            self._encoder = _Step(self.codec, "stream_encode", chunk.shape[0])
        frames = -(-num // self.codec.encoder_hop)
        padded = np.pad(chunk, ((0, 0), (0, self.chunk_size - num))) if num < self.chunk_size else chunk
        toks = self._encoder(padded, np.full(chunk.shape[0], frames, np.int64))
        return toks[:, : -(-frames // self.codec.frames_per_token)]

    def decode_chunk(self, toks: np.ndarray) -> np.ndarray:
        """Audio ``(B, k * samples_per_token)`` of one chunk of tokens ``(B, k)``, k <= tokens_per_chunk."""
        num = toks.shape[-1]
        if self._decoder is None:
            self._decoder = _Step(self.codec, "stream_decode", toks.shape[0])
        padded = np.pad(toks, ((0, 0), (0, self.per_chunk - num))) if num < self.per_chunk else toks
        audio = self._decoder(padded, np.full(toks.shape[0], num, np.int64))
        return audio[:, : num * self.codec.samples_per_token]

    def _decode_ready(self, toks: np.ndarray, final: bool) -> List[np.ndarray]:
        self._tokens = toks if self._tokens is None else np.concatenate([self._tokens, toks], axis=1)
        ready = self._tokens.shape[1] if final else self._tokens.shape[1] // self.per_chunk * self.per_chunk
        out = [self.decode_chunk(self._tokens[:, i : i + self.per_chunk]) for i in range(0, ready, self.per_chunk)]
        self._tokens = self._tokens[:, ready:]
        self.tokens_out += ready
        return out

    def push(self, samples: Array) -> Tuple[torch.Tensor, torch.Tensor]:
        """Add samples (``(B, n)`` or ``(n,)``, 16 kHz); return the tokens ``(B, k)`` and audio ``(B, m)`` of every
        chunk completed so far (k and m may be 0)."""
        self._check_open()
        samples = _numpy(samples, np.float32)
        buf = samples if self._samples is None else np.concatenate([self._samples, samples], axis=1)
        ready = buf.shape[1] // self.chunk_size * self.chunk_size
        toks = [self.encode_chunk(buf[:, i : i + self.chunk_size]) for i in range(0, ready, self.chunk_size)]
        self._samples = buf[:, ready:]
        self.samples_in += ready
        return self._collect(toks, final=False, batch=buf.shape[0])

    def flush(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Finish the stream: the tokens and audio of what is left; the stream's total audio is
        ``output_length(samples in)`` samples, as ``StreamingCodec.flush`` trims it."""
        self._check_open()
        self.finished = True
        batch = 1 if self._samples is None else self._samples.shape[0]
        toks = []
        if self._samples is not None and self._samples.shape[1]:
            toks.append(self.encode_chunk(self._samples))
            self.samples_in += self._samples.shape[1]
        self._samples = None
        produced = self.tokens_out * self.codec.samples_per_token
        toks_out, audio = self._collect(toks, final=True, batch=batch)
        expected = self.codec.output_length(self.samples_in)
        return toks_out, audio[:, : max(expected - produced, 0)]

    def _collect(self, toks: List[np.ndarray], final: bool, batch: int) -> Tuple[torch.Tensor, torch.Tensor]:
        toks_all = np.concatenate(toks, axis=1) if toks else np.zeros((batch, 0), np.int64)
        audio = self._decode_ready(toks_all, final) if toks or final else []
        audio_all = np.concatenate(audio, axis=1) if audio else np.zeros((batch, 0), np.float32)
        return torch.from_numpy(toks_all), torch.from_numpy(audio_all)
