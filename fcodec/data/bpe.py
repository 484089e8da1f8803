"""The sentencepiece BPE model over the bilingual training text (the CTC head's output vocabulary).

Conventions (as icefall's ``train_bpe_model.py``): id 0 is ``<blk>`` (the CTC blank), 1 ``<sos/eos>``, 2 ``<unk>``;
no bos/eos pieces. The text is normalised already (stage 2), so sentencepiece's own normalisation is off
(``identity``) and ``decode(encode(text)) == text``. Chinese characters survive as pieces: every character that
``character_coverage`` keeps gets its own piece before any merge, and with ``byte_fallback`` a character that was
never seen in training becomes its UTF-8 bytes instead of ``<unk>``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from fcodec.utils.io import atomic_path

BLANK, SOS_EOS = "<blk>", "<sos/eos>"


def train_bpe(
    texts: Iterable[str],
    lang_dir: os.PathLike,
    vocab_size: int,
    model_type: str = "bpe",
    character_coverage: float = 1.0,
    byte_fallback: bool = True,
    num_threads: int = 1,
) -> Path:
    """Write ``lang_dir/{train_text.txt, bpe.model, bpe.vocab}`` and return the path of ``bpe.model``."""
    import sentencepiece as spm

    lang_dir = Path(lang_dir)
    lang_dir.mkdir(parents=True, exist_ok=True)
    text_path = lang_dir / "train_text.txt"
    count = 0
    with atomic_path(text_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for text in texts:
            text = text.strip()
            if text:
                f.write(text + "\n")
                count += 1
    if count == 0:
        raise ValueError("no training text: the training cuts have no transcripts")

    work = Path(tempfile.mkdtemp(prefix=".bpe.", dir=lang_dir))
    try:
        try:
            spm.SentencePieceTrainer.train(
                input=str(text_path),
                model_prefix=str(work / "bpe"),
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=character_coverage,
                byte_fallback=byte_fallback,
                user_defined_symbols=[BLANK, SOS_EOS],
                unk_id=2,
                bos_id=-1,
                eos_id=-1,
                normalization_rule_name="identity",
                split_digits=True,
                input_sentence_size=10_000_000,
                shuffle_input_sentence=True,
                num_threads=max(1, num_threads),
                minloglevel=1,
            )
        except RuntimeError as exc:
            raise ValueError(
                f"sentencepiece could not build a {vocab_size}-piece {model_type} model from {count} lines of "
                f"{text_path}: {exc}. Choose a vocabulary size that fits the text (with byte_fallback, 256 byte "
                f"pieces plus one piece per kept character come first), or lower character_coverage."
            ) from exc
        for suffix in ("model", "vocab"):
            os.replace(work / f"bpe.{suffix}", lang_dir / f"bpe.{suffix}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lang_dir / "bpe.model"


def load_bpe(path: os.PathLike):
    """A ``sentencepiece.SentencePieceProcessor`` for ``bpe.model``, with a clear error when it is missing."""
    import sentencepiece as spm

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BPE model not found: expected {path} (written by stage 3)")
    return spm.SentencePieceProcessor(model_file=str(path))
