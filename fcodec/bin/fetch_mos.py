"""Put a MOS judge's weights at ``<out-dir>/`` (stage 3): NISQA v2.0's ``nisqa.tar``.

    python -m fcodec.bin.fetch_mos nisqa --out-dir data/models/mos                    # fetch (or the shared copy)
    python -m fcodec.bin.fetch_mos nisqa --out-dir data/models/mos --from nisqa.tar   # a local file
    python -m fcodec.bin.fetch_mos nisqa --out-dir data/models/mos --offline          # local copies only

The file must be the published one (sha256 checked, whatever its source) and lands atomically at
``<out-dir>/nisqa.tar``: a file already there with the published sha256 is kept; otherwise ``--from FILE`` is
copied, or the copy in ``shared/models/nisqa`` beside the repository (developers' machines, CI), or it is
downloaded from the NISQA repository (gabrielmittag/NISQA, the weights are CC BY-NC-SA 4.0: non-commercial use).
With ``--offline`` nothing is downloaded: without a local copy, one line says that the NISQA judge will be missing,
and the exit status is 0 (stage 8 then skips that judge with the same kind of line). DNSMOS needs no fetching: its
models ship in the ``speechmos`` wheel. The path is printed when the weights are there.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Optional

from fcodec.utils.cli import command_line

FILENAME = "nisqa.tar"


def fetch_nisqa(out_dir: Path, source: Optional[Path] = None, offline: bool = False) -> Optional[Path]:
    """``<out_dir>/nisqa.tar`` with the published sha256, or None (offline, no local copy)."""
    from fcodec.metrics.nisqa import NISQA_SHA256, NISQA_URL
    from fcodec.utils.assets import shared_nisqa_checkpoint
    from fcodec.utils.download import download_verified
    from fcodec.utils.io import atomic_path, file_sha256

    target = Path(out_dir) / FILENAME
    if source is None and target.is_file() and file_sha256(target) == NISQA_SHA256:
        return target
    local = source if source is not None else shared_nisqa_checkpoint()
    if local is not None:
        if not Path(local).is_file():
            raise FileNotFoundError(f"--from {local}: no such file")
        sha256 = file_sha256(local)
        if sha256 != NISQA_SHA256:
            raise RuntimeError(
                f"{local} is not the published NISQA v2.0 weights (sha256 {sha256}, expected {NISQA_SHA256})"
            )
        if Path(local).resolve() != target.resolve():
            with atomic_path(target) as tmp:
                shutil.copyfile(local, tmp)
        return target
    if offline:
        return None
    return download_verified(NISQA_URL, NISQA_SHA256, target, "NISQA v2.0 weights", manual_hint=", or pass --from FILE")


@command_line("python -m fcodec.bin.fetch_mos")
def main(argv=None) -> int:
    from fcodec.utils.logging import setup_logging

    parser = argparse.ArgumentParser(
        prog="python -m fcodec.bin.fetch_mos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("judge", choices=["nisqa"], help="the MOS judge whose weights to fetch")
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--from", dest="source", type=Path, default=None, help="a local copy of the weights")
    parser.add_argument("--offline", action="store_true", help="never download: local copies only")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        path = fetch_nisqa(args.out_dir, args.source, args.offline)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"fetch_mos: {exc}", file=sys.stderr)
        return 1
    if path is None:
        print(
            f"fetch_mos: no local NISQA weights (--from, or shared/models/nisqa/{FILENAME} beside the repository) "
            f"and --offline: the NISQA judge will be missing",
            file=sys.stderr,
        )
        return 0
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
