"""Loading Whisper (a published name or a local checkpoint) and making tiny random ones for tests and the mini recipe.

Both the ASR loss and the ASR judge of scoring load Whisper through :func:`load_whisper`, so a name, a local
``.pt`` in openai-whisper's own format (``{"dims": ..., "model_state_dict": ...}``, loaded with
``weights_only=True`` by openai-whisper) and a missing download all behave the same way everywhere.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import torch

TINY_DIMS = dict(
    n_mels=80,
    n_audio_ctx=1500,  # fixed by Whisper's 30 s window (3000 mel frames, conv stride 2)
    n_audio_state=64,
    n_audio_head=2,
    n_audio_layer=2,
    n_vocab=51865,  # the multilingual vocabulary: language tokens for zh and en exist
    n_text_ctx=448,
    n_text_state=64,
    n_text_head=2,
    n_text_layer=2,
)


def load_whisper(name_or_path: Union[str, os.PathLike], device: Union[str, torch.device] = "cpu",
                 download_root: Optional[str] = None):
    """Return a ``whisper.model.Whisper`` in eval mode, float32.

    ``name_or_path`` is a local checkpoint file or one of ``whisper.available_models()``; names are fetched into
    ``download_root`` (default ``~/.cache/whisper``) when missing, and a failed fetch says where to put the file.
    """
    import whisper

    name = str(name_or_path)
    if not os.path.isfile(name) and name not in whisper.available_models():
        raise FileNotFoundError(
            f"Whisper model {name!r} is neither a file nor one of the published names "
            f"{whisper.available_models()}"
        )
    if os.path.isfile(name):
        try:
            model = whisper.load_model(name, device=device)
        except Exception as exc:  # torch's own message names no file and suggests weights_only=False: never that
            raise RuntimeError(
                f"cannot load the Whisper checkpoint {name}: {type(exc).__name__}: {str(exc).splitlines()[0]}. "
                "It is truncated, corrupt, or not in openai-whisper's format ({'dims': ..., 'model_state_dict': ...}); "
                "delete it and fetch it again (python -m fcodec.bin.fetch_whisper)."
            ) from exc
        return model.float().eval()
    try:
        model = whisper.load_model(name, device=device, download_root=download_root)
    except OSError as exc:  # urllib errors are OSErrors: no network, proxy, DNS
        root = download_root or os.path.join(os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "whisper")
        raise RuntimeError(
            f"Whisper model {name!r} is not in {root} and could not be downloaded ({exc}). "
            f"Copy {name}.pt into {root} on a machine with access, or pass the path of a local checkpoint."
        ) from exc
    return model.float().eval()


def make_tiny_whisper(path: Union[str, os.PathLike], seed: int = 0, **dims) -> Path:
    """Write a random-weight multilingual Whisper in openai-whisper's checkpoint format.

    Its outputs are meaningless, but it exercises the real tokenizer, mel front end and loading code.
    """
    from whisper.model import ModelDimensions, Whisper

    from fcodec.utils.io import atomic_torch_save

    torch.manual_seed(seed)
    model_dims = ModelDimensions(**{**TINY_DIMS, **dims})
    model = Whisper(model_dims)
    # openai-whisper creates the text decoder's positional embedding with torch.empty (it expects to load
    # trained weights over it): left as is it holds garbage up to 1e24 and the model emits one token forever.
    # The token embedding keeps nn.Embedding's std 1: with small embeddings the logits hardly depend on the audio
    # and no gradient reaches it (the ASR-loss tests train through this model).
    with torch.no_grad():
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    checkpoint = {"dims": model_dims.__dict__, "model_state_dict": model.state_dict()}
    return atomic_torch_save(checkpoint, path)
