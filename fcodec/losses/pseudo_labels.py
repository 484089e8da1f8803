"""Pseudo-label targets for the ASR loss: Whisper's own transcript of the clean input, computed once per cut.

Labels are appended to a JSON-lines file (one ``{"cut_id", "language", "whisper", "text", "tokens"}`` per line,
flushed as written), so a resumed or later run reuses them and a crash loses at most the line being written,
which the loader skips with a warning. Each DDP rank writes its own file (``name.rank<R>.jsonl`` beside the
rank-0 file) and every rank reads all of them. Labels made by a different Whisper (its ``name``) are ignored.

The key is the cut id the batch carries. Cache labels only for audio that is the same every time the id comes
back (whole utterances, or crops whose id encodes the crop): a random crop under a fixed id would get the label
of whichever crop came first.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from fcodec.losses.masking import zero_beyond
from fcodec.losses.whisper_frontend import log_mel

logger = logging.getLogger(__name__)


class PseudoLabelCache:
    def __init__(self, path: Union[str, os.PathLike], whisper_name: str, rank: int = 0):
        self.path = Path(path)
        self.whisper_name = str(whisper_name)
        self.write_path = self.path if rank == 0 else self.path.with_name(f"{self.path.stem}.rank{rank}.jsonl")
        self.labels: dict[str, dict] = {}
        files = [self.path] + sorted(self.path.parent.glob(f"{self.path.stem}.rank*.jsonl"))
        for file in files:
            if file.is_file():
                self._load(file)

    def _load(self, file: Path) -> None:
        skipped = 0
        with open(file, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    cut_id, tokens = record["cut_id"], [int(t) for t in record["tokens"]]
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    logger.warning("%s line %d is not a pseudo-label record (%s); skipped", file, number, exc)
                    continue
                if record.get("whisper") != self.whisper_name:
                    skipped += 1
                    continue
                self.labels[cut_id] = {**record, "tokens": tokens}
        if skipped:
            logger.warning(
                "%s: %d labels made by another Whisper than %s were ignored", file, skipped, self.whisper_name
            )

    def __contains__(self, cut_id: str) -> bool:
        return cut_id in self.labels

    def __len__(self) -> int:
        return len(self.labels)

    def tokens(self, cut_id: str) -> list[int]:
        return self.labels[cut_id]["tokens"]

    def add(self, records: Sequence[dict]) -> None:
        self.write_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.write_path, "a", encoding="utf-8") as f:
            for record in records:
                record = {
                    "cut_id": record["cut_id"],
                    "language": record["language"],
                    "whisper": self.whisper_name,
                    "text": record["text"],
                    "tokens": [int(t) for t in record["tokens"]],
                }
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.labels[record["cut_id"]] = record
            f.flush()
            os.fsync(f.fileno())


@torch.no_grad()
def transcribe(
    model, audio: Tensor, audio_lens: Optional[Tensor], languages: Sequence[str], sample_len: Optional[int] = None
) -> list[dict]:
    """Greedy Whisper transcripts (text and tokens) of clean 16 kHz ``audio`` (B, N), language forced per clip.

    Whisper's own decoding path: 30 s windows, temperature 0, no timestamps, no fallback; special tokens are
    suppressed as for the judge (they would become training targets).
    """
    import whisper

    from fcodec.utils.whisper import non_text_tokens

    if audio_lens is not None:
        audio = zero_beyond(audio, audio_lens.to(audio.device))
    mel = log_mel(audio.float().to(next(model.parameters()).device), model.dims.n_mels)
    results: list[Optional[dict]] = [None] * len(languages)
    for language in sorted(set(languages)):
        index = [i for i, lang in enumerate(languages) if lang == language]
        options = whisper.DecodingOptions(
            language=language if model.is_multilingual else None,
            task="transcribe",
            temperature=0.0,
            without_timestamps=True,
            fp16=False,
            sample_len=sample_len,
            suppress_tokens=non_text_tokens(model),
        )
        decoded = whisper.decode(model, mel[index].to(next(model.parameters()).dtype), options)
        for i, result in zip(index, decoded):
            results[i] = {"language": language, "text": result.text, "tokens": list(result.tokens)}
    return results  # type: ignore[return-value]
