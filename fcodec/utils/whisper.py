"""Loading Whisper (a published name or a local checkpoint) and making tiny random ones for tests and the mini recipe.

Both the ASR loss and the ASR judge of scoring load Whisper through :func:`load_whisper`, so a name, a local
``.pt`` in openai-whisper's own format (``{"dims": ..., "model_state_dict": ...}``, loaded with
``weights_only=True`` by openai-whisper) and a missing download all behave the same way everywhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, Optional, Union

import torch

from fcodec.utils.download import download_verified

logger = logging.getLogger(__name__)

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


# The published models' dimensions (openai-whisper's checkpoints), for random-weight stand-ins of the real size:
# a throughput benchmark needs the real arithmetic, not the real weights.
def _published(width: int, heads: int, layers: int, text_layers: int = 0, large: bool = False) -> dict:
    """One published size: encoder and decoder share width and heads; the large-v3 family has 128 mel bands and
    one more vocabulary entry (the Cantonese language token)."""
    return dict(
        n_mels=128 if large else 80,
        n_audio_ctx=1500,
        n_audio_state=width,
        n_audio_head=heads,
        n_audio_layer=layers,
        n_vocab=51866 if large else 51865,
        n_text_ctx=448,
        n_text_state=width,
        n_text_head=heads,
        n_text_layer=text_layers or layers,
    )


PUBLISHED_DIMS = {
    "tiny": _published(384, 6, 4),
    "base": _published(512, 8, 6),
    "small": _published(768, 12, 12),
    "medium": _published(1024, 16, 24),
    "large-v3": _published(1280, 20, 32, large=True),
    "turbo": _published(1280, 20, 32, text_layers=4, large=True),
}


def whisper_cache_dir() -> Path:
    """openai-whisper's own download folder (``$XDG_CACHE_HOME/whisper``, default ``~/.cache/whisper``)."""
    return Path(os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))) / "whisper"


def published_sha256(name: str) -> str:
    """The sha256 of a published Whisper checkpoint (openai-whisper's download URL carries it)."""
    import whisper

    return whisper._MODELS[name].split("/")[-2]


def download_whisper(name: str, root: Optional[Union[str, os.PathLike]] = None, filename: Optional[str] = None) -> Path:
    """Put the published checkpoint ``name`` at ``<root>/<filename>`` (default: whisper's cache folder and the
    URL's file name, as openai-whisper names it) and return the path.

    Through :func:`fcodec.utils.download.download_verified`: a file already there is kept when its sha256 is the
    published one. Otherwise openai-whisper downloads the
    checkpoint (and checks its sha256) into a temporary folder inside ``root``, and only a complete, verified file
    is renamed into place: a download that is killed or fails leaves no ``<filename>`` behind, only a temporary
    folder, which the next call removes. (openai-whisper alone writes straight into the final file, so a killed
    download of large-v3, about 3 GB, would leave a partial file that looks fetched.)
    """
    import whisper

    if name not in whisper._MODELS:
        raise FileNotFoundError(f"{name!r} is not a published Whisper name ({whisper.available_models()})")
    url = whisper._MODELS[name]
    root = Path(root) if root is not None else whisper_cache_dir()
    return download_verified(
        url,
        published_sha256(name),
        root / (filename or os.path.basename(url)),
        f"Whisper model {name!r}",
        manual_hint=", or pass the path of a local checkpoint",
        # openai-whisper's own transfer, which checks the sha256 its URL carries
        fetch=lambda url, folder: whisper._download(url, folder, in_memory=False),
    )


def load_whisper(
    name_or_path: Union[str, os.PathLike],
    device: Union[str, torch.device] = "cpu",
    download_root: Optional[Union[str, os.PathLike]] = None,
):
    """Return a ``whisper.model.Whisper`` in eval mode, float32.

    ``name_or_path`` is a local checkpoint file or one of ``whisper.available_models()``; names are fetched into
    ``download_root`` (default ``~/.cache/whisper``) when missing (:func:`download_whisper`), and a failed fetch
    says where to put the file.
    """
    import whisper

    name = str(name_or_path)
    if not os.path.isfile(name) and name not in whisper.available_models():
        raise FileNotFoundError(
            f"Whisper model {name!r} is neither a file nor one of the published names {whisper.available_models()}"
        )
    published = not os.path.isfile(name)
    path = str(download_whisper(name, download_root)) if published else name
    try:
        model = whisper.load_model(path, device=device)
    except Exception as exc:  # torch's own message names no file and suggests weights_only=False: never that
        raise RuntimeError(
            f"cannot load the Whisper checkpoint {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}. "
            "It is truncated, corrupt, or not in openai-whisper's format ({'dims': ..., 'model_state_dict': ...}); "
            "delete it and fetch it again (python -m fcodec.bin.fetch_whisper)."
        ) from exc
    if published and name in whisper._ALIGNMENT_HEADS:  # what whisper.load_model(name) sets (for word timestamps)
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
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


def non_text_tokens(model) -> List[int]:
    """``suppress_tokens`` for greedy transcription: Whisper's default non-speech symbols (-1) plus every special
    and timestamp token after <|endoftext|>.

    Whisper only suppresses some specials and decodes the others into the text ("<|notimestamps|>"); a transcript
    (a judge's, or a pseudo-label the ASR loss trains on) should hold text or end, nothing else. A real model almost
    never picks them; a random one picks little else."""
    from whisper.tokenizer import get_tokenizer

    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages)
    return [-1] + list(range(tokenizer.eot + 1, model.dims.n_vocab))
