"""The decode journal, ``<decode dir>/.progress.jsonl`` (fcodec.layout.experiment.journal_path): what makes a decode
resumable.

The first line is a header with the settings the outputs depend on (the model's fingerprint, streaming, an int8
or post-hoc choice); then one line per cut, decoded (written once its wav and tokens are on disk) or failed,
fsynced batch by batch.
A rerun with the same header continues where the last one stopped; one with another header must start afresh.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from fcodec.infer.tokens import TOKENS_DIR
from fcodec.layout import decode_format
from fcodec.utils.io import hash_file

__all__ = ["CODEC_ERROR", "Journal", "journal_header", "missing_outputs", "model_fingerprint"]

logger = logging.getLogger(__name__)
# a failure reason that starts with this is the codec's (not the input's): worth another try on a rerun
CODEC_ERROR = "codec error"


def model_fingerprint(source: str) -> str:
    """What a resumed run must match: the model's config and weights (a local folder) or its name."""
    folder = Path(source)
    if not folder.is_dir():
        return source
    files = tuple(
        (name, (folder / name).stat().st_size, (folder / name).stat().st_mtime_ns)
        for name in ("config.json", "model.safetensors")
        if (folder / name).is_file()
    )
    return _hash_model_files(str(folder.resolve()), files)


@functools.lru_cache(maxsize=16)
def _hash_model_files(folder: str, files: Tuple[Tuple[str, int, int], ...]) -> str:
    """Hashed once per model and process (a full-size model is ~1 GB, decoded for every test set); the sizes and
    modification times in ``files`` make a rewritten model a new key."""
    digest = hashlib.sha256()
    for name, _, _ in files:
        digest.update(name.encode())
        hash_file(Path(folder) / name, digest)
    return digest.hexdigest()[:16]


def relocate_record(record: Dict[str, Any], directory: Path) -> Dict[str, Any]:
    """A decoded cut's record with its wav and token paths in ``directory``, wherever the folder was when they were
    written (a copied or moved exp dir checks and lists its own files)."""
    if record.get("status") != "ok":
        return record
    for source in record["recon"]["recording"]["sources"]:
        if source["type"] == "file":
            source["source"] = decode_format.relocated(source["source"], directory, decode_format.WAV_DIR)
    array = record["tokens"]["array"]
    array["storage_path"] = decode_format.relocated(array["storage_path"], directory, TOKENS_DIR)
    return record


def missing_outputs(record: Dict[str, Any]) -> List[str]:
    """The files a journal record of a decoded cut points at (its wav, its tokens) that do not exist."""
    paths = [source["source"] for source in record["recon"]["recording"]["sources"] if source["type"] == "file"]
    array = record["tokens"]["array"]
    paths.append(os.path.join(array["storage_path"], array["storage_key"]))
    return [path for path in paths if not os.path.isfile(path)]


class Journal:
    """Append-only record of finished cuts. The first line holds the settings the outputs depend on; a rerun
    with other settings must start afresh. A line cut short by a kill is ignored."""

    def __init__(self, path: Path, header: Dict[str, Any]) -> None:
        self.path = path
        self.entries: Dict[str, Dict[str, Any]] = {}
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            records = []
            for line in lines:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    logger.warning("%s: ignoring an incomplete line (the run was killed while writing it)", path)
            if records and records[0].get("header") != header:
                raise RuntimeError(
                    f"{path.parent} holds a decode with other settings ({records[0].get('header')}); now "
                    f"{header}. Use a new output folder or --overwrite to start it afresh"
                )
            for record in records[1:]:  # the latest record of a cut wins (a retried failure)
                self.entries[record["cut_id"]] = relocate_record(record, path.parent.absolute())
            self._file = open(path, "a", encoding="utf-8")
            if not records:
                self._append({"header": header})
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")
            self._append({"header": header})

    def _append(self, *records: Dict[str, Any]) -> None:
        for record in records:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def add(self, records: Sequence[Dict[str, Any]]) -> None:
        self._append(*records)
        for record in records:
            self.entries[record["cut_id"]] = record

    def done(self, cut_id: str) -> bool:
        """Journaled as decoded *and* its wav and token files are still there (a deleted output is redone)."""
        record = self.entries.get(cut_id, {})
        return record.get("status") == "ok" and not missing_outputs(record)

    def codec_failures(self) -> List[str]:
        """Ids of the cuts whose last try failed in the codec (not their input): worth another try."""
        return [
            cut_id
            for cut_id, record in self.entries.items()
            if record.get("status") != "ok" and str(record.get("reason", "")).startswith(CODEC_ERROR)
        ]

    def missing(self) -> List[str]:
        """Ids of the cuts journaled as decoded whose output files are gone."""
        return [
            cut_id
            for cut_id, record in self.entries.items()
            if record.get("status") == "ok" and missing_outputs(record)
        ]

    def close(self) -> None:
        self._file.close()


def journal_header(path: Path) -> Optional[Dict[str, Any]]:
    """The header of the journal at ``path``, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.readline()).get("header")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
