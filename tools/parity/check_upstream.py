"""Parity of ``fcodec.models.FocalCodec`` with the upstream ``focalcodec`` package (v0.0.2).

    PYTHONPATH=$PWD python tools/parity/check_upstream.py --upstream /path/to/clone   # folder holding focalcodec/
    PYTHONPATH=$PWD python tools/parity/check_upstream.py          # focalcodec installed with pip
    PYTHONPATH=$PWD python tools/parity/check_upstream.py --configs published --threads 2 --json parity.json
    PYTHONPATH=$PWD python tools/parity/check_upstream.py --configs none --checkpoint exp/models/focalcodec_50hz_2k_causal

For every model (random weights with the constant-initialised parameters perturbed, or a real checkpoint) the
same state dict is loaded strictly into upstream's class, and the tool compares: state-dict keys, shapes and
dtypes; each public step fed the same input (sig_to_feats, feats_to_lats, lats_to_toks, lats_to_codes,
toks_to_codes, codes_to_qfeats, feats_to_sig); ``forward``; for causal models chunk-by-chunk streaming against
upstream's streaming (whole chunks) and upstream's offline pass; upstream loading our ``save_pretrained`` folder
and ours loading upstream's ``to_pretrained`` files. The tiny and the 2k causal models are also grown once and
twice (``fcodec.models.grow``: 25 and 12.5 Hz) and the grown models go through the same checks.

Features, latents and waveforms must agree within ``--tol`` (max absolute difference), tokens and codes exactly.
One table is printed (check, max diff, tolerance, OK/BAD); the exit status is 1 if any check fails, 2 if
upstream cannot be imported or a --checkpoint is unreadable, else 0.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import logging
import math
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from tqdm import tqdm

from fcodec.models import FocalCodec, configs, grow
from fcodec.models.hub import CheckpointError, resolve
from fcodec.models.testing import perturb_constants, speechlike
from fcodec.utils.io import atomic_write_json
from fcodec.utils.logging import setup_logging

logger = logging.getLogger("check_upstream")

INSTALL_HINT = (
    "Get the upstream package with `pip install git+https://github.com/lucadellalib/focalcodec@<tag>` (e.g. @main; "
    "then leave out --upstream), or `git clone https://github.com/lucadellalib/focalcodec` and pass "
    "--upstream /path/to/the/clone (the folder that holds focalcodec/)."
)
# A token bit is the sign of one latent component. Two correct implementations differ by ~1e-7 in the latents,
# so a component that is zero up to rounding may get opposite signs on the two sides: a token that differs only
# in such bits is explained by float rounding, not by a bug. 1e-5 is far above that noise and far below --tol.
NEAR_ZERO_LATENT = 1e-5
RELATIVE_LENGTHS = (1.0, 0.5, 0.77)  # the ``length`` argument: a padded batch of three


class UpstreamNotFound(RuntimeError):
    """The upstream ``focalcodec`` package could not be imported from where the user pointed."""


@dataclass
class Plan:
    lengths: Tuple[int, ...]  # signal lengths (samples at 16 kHz) of the step-by-step checks
    stream_samples: int  # signal length of the streaming checks (not a whole number of chunks)


PLANS = {
    "tiny": Plan(lengths=(16123, 1280 * 5, 1280 * 5 + 640, 399, 319, 1), stream_samples=1280 * 40 + 333),
    "published": Plan(lengths=(16123, 1280 * 5 + 640, 319), stream_samples=1280 * 20 + 333),
}


@dataclass
class Check:
    check: str
    max_diff: float
    tol: float
    explained: Optional[int] = None  # token checks: tokens that differ only at zero latents (not counted above)

    @property
    def ok(self) -> bool:
        return not math.isnan(self.max_diff) and self.max_diff <= self.tol


class Results:
    """Checks by name; a check run several times (several lengths) keeps its worst value and sums ``explained``."""

    def __init__(self) -> None:
        self.checks: Dict[str, Check] = {}

    def add(self, name: str, value: float, tol: float, explained: Optional[int] = None) -> None:
        check = self.checks.setdefault(name, Check(name, float(value), tol))
        if math.isnan(value) or value > check.max_diff:
            check.max_diff = float(value)
        if explained is not None:
            check.explained = (check.explained or 0) + explained

    @property
    def failed(self) -> List[Check]:
        return [c for c in self.checks.values() if not c.ok]


# ------------------------------------------------------------------------------------------------------------
# the upstream package
# ------------------------------------------------------------------------------------------------------------
def import_upstream(folder: Optional[str]) -> ModuleType:
    """``focalcodec`` from ``folder`` (the folder holding the package, or the package folder itself), else from
    the Python path. Raises ``UpstreamNotFound`` with a message naming the place and how to get the package."""
    if folder is not None:
        root = Path(folder).expanduser().resolve()
        if root.name == "focalcodec" and (root / "__init__.py").is_file():
            root = root.parent
        if not (root / "focalcodec" / "__init__.py").is_file():
            raise UpstreamNotFound(
                f"--upstream {folder}: no upstream `focalcodec` package there "
                f"(expected {root / 'focalcodec' / '__init__.py'}). {INSTALL_HINT}"
            )
        sys.path.insert(0, str(root))
    where = f"--upstream {folder}" if folder is not None else "the Python path (no --upstream given)"
    try:
        module = importlib.import_module("focalcodec")
    except Exception as exc:  # a missing package, or one of its own imports failing
        raise UpstreamNotFound(
            f"cannot import `focalcodec` from {where}: {type(exc).__name__}: {exc}. {INSTALL_HINT}"
        ) from exc
    if not hasattr(module, "FocalCodec"):
        raise UpstreamNotFound(f"`focalcodec` from {where} ({module.__file__}) has no FocalCodec. {INSTALL_HINT}")
    return module


def load_upstream_checkpoint(upstream: ModuleType, folder: str) -> torch.nn.Module:
    """Upstream's own loader on a published folder: it wants ``<stem>.json`` + ``<stem>.safetensors``, so link
    the folder's ``config.json`` and weights under one stem in a scratch folder."""
    config_json, weights = resolve(folder)
    with tempfile.TemporaryDirectory() as scratch:
        os.symlink(config_json.resolve(), os.path.join(scratch, "config.json"))
        os.symlink(weights.resolve(), os.path.join(scratch, "config" + weights.suffix))
        return upstream.FocalCodec.from_pretrained(os.path.join(scratch, "config")).eval()


# ------------------------------------------------------------------------------------------------------------
# comparisons
# ------------------------------------------------------------------------------------------------------------
def max_diff(a: Tensor, b: Tensor) -> float:
    if a.shape != b.shape:
        logger.error("shape mismatch: upstream %s vs ours %s", tuple(a.shape), tuple(b.shape))
        return math.inf
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def token_mismatches(ref: Tensor, other: Tensor, ref_lats: Tensor, bit_weights: Tensor) -> Tuple[float, int]:
    """``(unexplained, explained)`` counts of differing tokens; explained ones differ only in bits whose
    latent component (in ``ref_lats``, the upstream side) is below ``NEAR_ZERO_LATENT``."""
    if ref.shape != other.shape or ref_lats.shape[:-1] != ref.shape:
        logger.error("token shape mismatch: upstream %s vs ours %s", tuple(ref.shape), tuple(other.shape))
        return math.inf, 0
    differ = ref != other
    flipped = ((ref[differ] ^ other[differ])[:, None] & bit_weights) != 0
    near_zero = ref_lats[differ].abs() < NEAR_ZERO_LATENT
    unexplained = int((flipped & ~near_zero).any(-1).sum())
    return unexplained, int(differ.sum()) - unexplained


def add_tokens(res: Results, name: str, ref: Tensor, other: Tensor, ref_lats: Tensor, ours: FocalCodec) -> None:
    unexplained, explained = token_mismatches(ref, other, ref_lats, ours.quantizer.mask)
    res.add(f"{name} (tokens differing)", unexplained, 0, explained)


def compare_state_dicts(up, ours: FocalCodec, res: Results, tag: str, values: bool) -> None:
    su, so = up.state_dict(), ours.state_dict()
    res.add(f"{tag} | state_dict keys (symmetric difference)", len(set(su) ^ set(so)), 0)
    res.add(
        f"{tag} | state_dict shapes/dtypes (mismatches)",
        sum(su[k].shape != so[k].shape or su[k].dtype != so[k].dtype for k in set(su) & set(so)),
        0,
    )
    if values:  # both loaded from the same files by their own loaders
        res.add(f"{tag} | state_dict values", max((max_diff(su[k], so[k]) for k in set(su) & set(so)), default=0), 0)


def compare_stages(
    up, ours: FocalCodec, sig: Tensor, length: Optional[Tensor], res: Results, tag: str, tol: float
) -> None:
    """Each step fed upstream's output of the previous one, then ``forward`` end to end."""
    feats = up.sig_to_feats(sig, length=length)
    res.add(f"{tag} | sig_to_feats", max_diff(feats, ours.sig_to_feats(sig, length=length)), tol)
    lats = up.feats_to_lats(feats)
    res.add(f"{tag} | feats_to_lats", max_diff(lats, ours.feats_to_lats(feats)), tol)
    toks = up.lats_to_toks(lats)
    res.add(f"{tag} | lats_to_toks (tokens differing)", int((toks != ours.lats_to_toks(lats)).sum()), 0)
    codes = up.lats_to_codes(lats)
    res.add(f"{tag} | lats_to_codes", max_diff(codes, ours.lats_to_codes(lats)), 0)
    res.add(f"{tag} | toks_to_codes", max_diff(up.toks_to_codes(toks), ours.toks_to_codes(toks)), 0)
    qfeats = up.codes_to_qfeats(codes)
    res.add(f"{tag} | codes_to_qfeats", max_diff(qfeats, ours.codes_to_qfeats(codes)), tol)
    res.add(f"{tag} | feats_to_sig", max_diff(up.feats_to_sig(qfeats), ours.feats_to_sig(qfeats)), tol)
    up_toks, _, up_sig = up(sig, length=length)
    our_toks, _, our_sig = ours(sig, length=length)
    add_tokens(res, f"{tag} | forward", up_toks, our_toks, lats, ours)
    res.add(f"{tag} | forward waveform", max_diff(up_sig, our_sig), tol)


def stream(model, sig: Tensor, chunk: int) -> Tuple[Tensor, Tensor]:
    """Tokens and waveform of ``model(chunk, *state, return_state=True)`` over consecutive chunks (both APIs)."""
    state: list = []
    toks, sigs = [], []
    for start in range(0, sig.shape[1], chunk):
        tok, _, rec, *state = model(sig[:, start : start + chunk], *state, return_state=True)
        toks.append(tok)
        sigs.append(rec)
    return torch.cat(toks, 1), torch.cat(sigs, 1)


def compare_streaming(up, ours: FocalCodec, num_samples: int, res: Results, tag: str, tol: float) -> None:
    sig = speechlike(2, num_samples, seed=7)
    chunk = ours.chunk_size
    lats = up.feats_to_lats(up.sig_to_feats(sig))
    up_toks, _, up_sig = up(sig)
    up_stream_toks, up_stream_sig = stream(up, sig, chunk)
    our_toks, our_sig = stream(ours, sig, chunk)
    # upstream's streaming and offline passes differ on the last, partial chunk: compare the streams on whole
    # chunks, and our stream with upstream's offline pass on everything
    whole = (num_samples // chunk) * chunk
    frames, samples = whole // ours.hop_samples, ours.output_length(whole)
    add_tokens(
        res,
        f"{tag} | stream vs upstream stream, whole chunks",
        up_stream_toks[:, :frames],
        our_toks[:, :frames],
        lats[:, :frames],
        ours,
    )
    res.add(
        f"{tag} | stream vs upstream stream, whole chunks: waveform",
        max_diff(up_stream_sig[:, :samples], our_sig[:, :samples]),
        tol,
    )
    add_tokens(res, f"{tag} | stream vs upstream offline", up_toks, our_toks, lats, ours)
    res.add(f"{tag} | stream vs upstream offline: waveform", max_diff(up_sig[:, : our_sig.shape[1]], our_sig), tol)


def compare_files(upstream: ModuleType, up, ours: FocalCodec, res: Results, tag: str, tol: float) -> None:
    """Upstream loads our ``save_pretrained`` folder; ours loads upstream's ``to_pretrained`` files."""
    sig = speechlike(2, 16123, seed=3)
    our_toks, _, our_sig = ours(sig)
    up_toks, _, up_sig = up(sig)
    lats = up.feats_to_lats(up.sig_to_feats(sig))
    with tempfile.TemporaryDirectory() as scratch:
        ours.save_pretrained(os.path.join(scratch, "ours"))
        up_loaded = upstream.FocalCodec.from_pretrained(os.path.join(scratch, "ours", "config")).eval()
        toks, _, rec = up_loaded(sig)
        add_tokens(res, f"{tag} | upstream loads our save_pretrained", toks, our_toks, lats, ours)
        res.add(f"{tag} | upstream loads our save_pretrained: waveform", max_diff(rec, our_sig), tol)
        del up_loaded
        up.to_pretrained(os.path.join(scratch, "upstream", "codec"))
        ours_loaded = FocalCodec.from_pretrained(os.path.join(scratch, "upstream", "codec")).eval()
        toks, _, rec = ours_loaded(sig)
        add_tokens(res, f"{tag} | ours loads upstream to_pretrained", up_toks, toks, lats, ours)
        res.add(f"{tag} | ours loads upstream to_pretrained: waveform", max_diff(up_sig, rec), tol)


@torch.no_grad()
def compare_model(upstream: ModuleType, tag: str, ours: FocalCodec, up, plan: Plan, res: Results, tol: float) -> None:
    """All checks for one model; ``up`` is upstream's copy, or None to load ``ours``' state dict into one."""
    if up is None:
        up = upstream.FocalCodec(**copy.deepcopy(ours.config)).eval()
        compare_state_dicts(up, ours, res, tag, values=False)
        up.load_state_dict(ours.state_dict(), strict=True)
    else:
        compare_state_dicts(up, ours, res, tag, values=True)
    for n in plan.lengths:
        compare_stages(up, ours, speechlike(2, n, seed=n), None, res, tag, tol)
    compare_stages(
        up,
        ours,
        speechlike(len(RELATIVE_LENGTHS), plan.lengths[0], seed=5),
        torch.tensor(RELATIVE_LENGTHS),
        res,
        f"{tag} | with length",
        tol,
    )
    if ours.causal:
        compare_streaming(up, ours, plan.stream_samples, res, tag, tol)
    compare_files(upstream, up, ours, res, tag, tol)


# ------------------------------------------------------------------------------------------------------------
# which models
# ------------------------------------------------------------------------------------------------------------
Case = Tuple[str, Callable[[], Tuple[FocalCodec, Optional[torch.nn.Module]]]]


def random_model(config: dict, seed: int = 0) -> FocalCodec:
    torch.manual_seed(seed)
    return perturb_constants(FocalCodec(**copy.deepcopy(config)), seed + 1).eval()


def with_growth(tag: str, config: dict) -> List[Case]:
    """The model at 50 Hz, then grown to 25 and 12.5 Hz (each from the one before; new layers perturbed)."""
    held: Dict[str, FocalCodec] = {}

    def base():
        held["model"] = random_model(config)
        return held["model"], None

    def grown(step: int):
        def make():
            held["model"] = perturb_constants(grow(held["model"], seed=step)[0], step + 1).eval()
            return held["model"], None

        return make

    return [(f"{tag} 50Hz", base), (f"{tag} 25Hz grown", grown(1)), (f"{tag} 12.5Hz grown x2", grown(2))]


def model_cases(which: str) -> List[Case]:
    if which == "tiny":
        cases = with_growth("tiny causal", configs.tiny_causal_config())
        for factors, rate in (((1, 1), "50"), ((2, 1), "25"), ((2, 2), "12.5")):
            config = configs.tiny_noncausal_config(factors)
            cases.append((f"tiny noncausal {rate}Hz", lambda config=config: (random_model(config), None)))
        return cases
    if which == "published":
        main = "lucadellalib/focalcodec_50hz_2k_causal"
        cases = with_growth(main.split("/")[1], configs.PUBLISHED_CONFIGS[main])
        for repo, config in configs.PUBLISHED_CONFIGS.items():
            if repo != main:
                cases.append((repo.split("/")[1], lambda config=config: (random_model(config), None)))
        return cases
    return []


def checkpoint_case(upstream: ModuleType, folder: str) -> Case:
    return (
        f"checkpoint {folder}",
        lambda: (FocalCodec.from_pretrained(folder).eval(), load_upstream_checkpoint(upstream, folder)),
    )


# ------------------------------------------------------------------------------------------------------------
# running and reporting
# ------------------------------------------------------------------------------------------------------------
def run(upstream: ModuleType, cases: Sequence[Case], plan: Plan, tol: float) -> Results:
    res = Results()
    for tag, make in tqdm(cases, desc="models", unit="model"):
        logger.info("comparing %s", tag)
        try:
            ours, up = make()
            compare_model(upstream, tag, ours, up, plan, res, tol)
        except Exception as exc:  # report it as a failed check and go on with the other models
            logger.exception("%s: %s", tag, exc)
            res.add(f"{tag} | ran without error ({type(exc).__name__}: {str(exc)[:80]})", math.inf, 0)
    return res


def format_table(res: Results) -> str:
    width = max([len("check")] + [len(c.check) for c in res.checks.values()])
    lines = [f"{'check':<{width}}  {'max diff':>9}  {'tolerance':>9}  result", "-" * (width + 33)]
    for c in res.checks.values():
        note = f"  (+{c.explained} differing only at |latent|<{NEAR_ZERO_LATENT:g})" if c.explained else ""
        tol = f"{c.tol:g}" if c.tol else "exact"
        lines.append(f"{c.check:<{width}}  {c.max_diff:>9.3g}  {tol:>9}  {'OK' if c.ok else 'BAD'}{note}")
    failed = len(res.failed)
    lines.append(f"{len(res.checks)} checks, {failed} failed" + ("" if failed else ": parity holds"))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--upstream",
        default=None,
        metavar="DIR",
        help="folder holding the upstream `focalcodec` package (a clone of "
        "github.com/lucadellalib/focalcodec); default: import it from the Python path",
    )
    parser.add_argument(
        "--configs",
        choices=["tiny", "published", "none"],
        default="tiny",
        help="random-weight models to compare: tiny ones (seconds), the published full-size "
        "configs (minutes), or none (with --checkpoint) (default: %(default)s)",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="DIR",
        help="also compare on a real checkpoint folder (config.json + model.safetensors); repeatable",
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="max absolute difference allowed on features, latents and waveforms; tokens and "
        "codes must match exactly (default: %(default)g)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    setup_logging()
    try:
        upstream = import_upstream(args.upstream)
    except UpstreamNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    logger.info(
        "upstream focalcodec %s from %s; torch %s, %d threads",
        getattr(upstream.FocalCodec, "__version__", "?"),
        upstream.__file__,
        torch.__version__,
        torch.get_num_threads(),
    )

    for folder in args.checkpoint:  # before minutes of work on the other models
        try:
            resolve(folder)
        except CheckpointError as exc:
            print(f"error: --checkpoint {folder}: {exc}", file=sys.stderr)
            return 2
    cases = model_cases(args.configs) + [checkpoint_case(upstream, d) for d in args.checkpoint]
    if not cases:
        parser.error("nothing to compare: --configs none needs at least one --checkpoint")
    plan = PLANS["tiny" if args.configs == "tiny" else "published"]
    res = run(upstream, cases, plan, args.tol)
    print(format_table(res))
    if args.json:
        atomic_write_json(
            args.json,
            {
                "upstream": upstream.__file__,
                "configs": args.configs,
                "checkpoints": args.checkpoint,
                "tol": args.tol,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                # inf (a shape mismatch, an error) is not JSON: written as the string "inf"
                "checks": [
                    {**asdict(c), "max_diff": c.max_diff if math.isfinite(c.max_diff) else str(c.max_diff), "ok": c.ok}
                    for c in res.checks.values()
                ],
                "failed": len(res.failed),
            },
        )
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
