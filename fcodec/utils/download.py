"""Atomic, sha256-checked downloads of model weights (the Whisper judges, the NISQA MOS judge).

A file already at the target is kept when its sha256 is the expected one. Otherwise the bytes are fetched into a
temporary folder beside the target, checked, and only then renamed into place: a download that is killed or fails
leaves no file that looks fetched, only a temporary folder, which the next call removes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from fcodec.utils.io import file_sha256

logger = logging.getLogger(__name__)

# (url, folder) -> the path of the downloaded file inside folder; raises OSError without network, RuntimeError on
# a checksum mismatch
Fetcher = Callable[[str, str], str]


def _fetch_with_urllib(expected_sha256: str) -> Fetcher:
    def fetch(url: str, folder: str) -> str:
        path = os.path.join(folder, os.path.basename(url) or "download")
        digest = hashlib.sha256()
        with urllib.request.urlopen(url) as source, open(path, "wb") as out:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != expected_sha256:
            raise RuntimeError(
                f"the downloaded file's SHA256 checksum {digest.hexdigest()} does not match "
                f"the published {expected_sha256}"
            )
        return path

    return fetch


def download_verified(
    url: str,
    expected_sha256: str,
    target: os.PathLike,
    what: str,
    fetch: Optional[Fetcher] = None,
    manual_hint: str = "",
) -> Path:
    """Put the bytes at ``url`` (sha256 ``expected_sha256``) at ``target``; return it.

    ``what`` names the file in messages ("Whisper model 'small'"); ``fetch`` does the transfer (default: urllib,
    checking the sha256); ``manual_hint`` is added to the no-network error (what else the user can do)."""
    target = Path(target)
    root = target.parent
    if target.is_file():
        if file_sha256(target) == expected_sha256:
            return target
        logger.warning(
            "%s is there but its sha256 is not the published one (an interrupted download?); fetching it again", target
        )
    root.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.download-"
    for stale in root.glob(prefix + "*"):  # what a killed download left behind
        logger.info("removing %s, left by an interrupted download", stale)
        shutil.rmtree(stale, ignore_errors=True)
    partial = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        logger.info("downloading %s from %s into %s", what, url, target)
        try:
            downloaded = (fetch or _fetch_with_urllib(expected_sha256))(url, str(partial))
        except OSError as exc:  # urllib errors are OSErrors: no network, proxy, DNS
            raise RuntimeError(
                f"{what} could not be downloaded from {url} ({exc}). Copy {target.name} into "
                f"{root} on a machine with access{manual_hint}."
            ) from exc
        except RuntimeError as exc:
            raise RuntimeError(f"{what} from {url}: {exc}") from exc
        os.replace(downloaded, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
