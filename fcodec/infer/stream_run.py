"""A whole signal or wav file through a causal codec chunk by chunk, as a live source would send it
(:class:`fcodec.infer.streaming.StreamingCodec`), with the compute time of each call.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from fcodec.infer.streaming import StreamingCodec, as_batch
from fcodec.models.codec import FocalCodec

__all__ = ["stream_signal", "stream_file"]

logger = logging.getLogger(__name__)


@torch.no_grad()
def stream_signal(
    model: FocalCodec, sig: Tensor, chunk_samples: Optional[int] = None
) -> Tuple[Tensor, Tensor, List[float]]:
    """Stream a whole ``(B, N)`` signal in ``chunk_samples`` pieces (default: one chunk) as a live source would.

    Returns ``(tokens, reconstruction, per-call compute seconds)``; the reconstruction has
    ``N * sr_out / sr_in`` samples.

    Parameters
    ----------
    model : FocalCodec or OnnxCodec
        A causal codec (``model.causal``); an ``fcodec.export.OnnxCodec`` streams through its ONNX graphs.
    sig : Tensor, shape (B, N) or (N,), float, 16 kHz
        The whole signal.
    chunk_samples : int, optional
        Samples per ``push`` (any size; the codec buffers to whole chunks); default ``model.chunk_size``.

    Returns
    -------
    toks : Tensor, shape (B, L), int64
        The same tokens as one offline pass.
    audio : Tensor, shape (B, floor(N * sample_rate_output / sample_rate_input)), float
        The reconstruction at ``model.sample_rate_output``.
    times : list of float
        Wall-clock seconds of each ``push`` call, then of the final ``flush``.

    Raises
    ------
    ValueError
        ``model`` is not causal.
    """
    sig = as_batch(sig)
    # another backend's codec makes its own stream objects (fcodec.export.onnx_runtime); a FocalCodec, or a codec
    # offering its token API (fcodec.models.posthoc.PosthocCodec), streams through StreamingCodec
    codec = model.stream() if callable(getattr(model, "stream", None)) else StreamingCodec(model)
    step = chunk_samples or model.chunk_size
    toks, audio, times = [], [], []
    for start in range(0, sig.shape[-1], step):
        began = time.perf_counter()
        t, a = codec.push(sig[:, start : start + step])
        times.append(time.perf_counter() - began)
        toks.append(t)
        audio.append(a)
    began = time.perf_counter()
    t, a = codec.flush()
    times.append(time.perf_counter() - began)
    toks.append(t)
    audio.append(a)
    return torch.cat(toks, dim=-1), torch.cat(audio, dim=-1), times


def stream_file(model: FocalCodec, in_path, out_path, tokens_path=None) -> Dict[str, Any]:
    """Stream a wav file through ``model`` chunk by chunk; write the reconstruction (and tokens as .npy).

    Parameters
    ----------
    model : FocalCodec or OnnxCodec
        A causal codec (``model.causal``), or an ONNX export of one (``fcodec.export.OnnxCodec``).
    in_path : str or os.PathLike
        An audio file lhotse reads; channels are averaged and it is resampled to 16 kHz.
    out_path : str or os.PathLike
        The reconstruction, written atomically as 16-bit PCM WAV at ``model.sample_rate_output``.
    tokens_path : str or os.PathLike, optional
        Also write the tokens, shape (L,) int64, as a ``.npy`` file (atomically).

    Returns
    -------
    dict
        ``input``, ``output``, ``seconds`` (input duration), ``tokens``, ``frame_rate``, ``bitrate``, ``chunks``,
        ``chunk_ms``, ``compute_ms_median`` and ``compute_ms_p95`` (per push call), ``real_time_factor``
        (compute seconds / audio seconds).

    Raises
    ------
    fcodec.data.audio.AudioReadError
        ``in_path`` is missing, unreadable, empty or not finite (the message names the file).
    ValueError
        ``model`` is not causal.
    """
    import numpy as np
    import soundfile as sf

    from fcodec.data.audio import read_mono
    from fcodec.utils.io import atomic_write

    in_path, out_path = Path(in_path), Path(out_path)
    sig = torch.from_numpy(read_mono(in_path, model.sample_rate_input))  # lhotse resamples; errors name the file
    toks, audio, times = stream_signal(model, sig)
    wav = audio[0].clamp(-1, 1).cpu().numpy()
    atomic_write(
        out_path, lambda tmp: sf.write(str(tmp), wav, model.sample_rate_output, subtype="PCM_16", format="WAV")
    )
    if tokens_path is not None:

        def write_tokens(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to the temporary name
                np.save(f, toks[0].cpu().numpy())

        atomic_write(Path(tokens_path), write_tokens)
    chunk_ms = 1000.0 * model.chunk_size / model.sample_rate_input
    chunk_times = times[:-1] or times
    summary = {
        "input": str(in_path),
        "output": str(out_path),
        "seconds": sig.shape[-1] / model.sample_rate_input,
        "tokens": int(toks.shape[-1]),
        "frame_rate": model.frame_rate,
        "bitrate": model.bitrate,
        "chunks": len(chunk_times),
        "chunk_ms": chunk_ms,
        "compute_ms_median": 1000.0 * statistics.median(chunk_times),
        "compute_ms_p95": 1000.0 * sorted(chunk_times)[int(0.95 * (len(chunk_times) - 1))],
        "real_time_factor": sum(times) / (sig.shape[-1] / model.sample_rate_input),
    }
    logger.info(
        "streamed %s -> %s: %d tokens, %.1f ms median compute per %.0f ms chunk",
        in_path,
        out_path,
        summary["tokens"],
        summary["compute_ms_median"],
        chunk_ms,
    )
    return summary
