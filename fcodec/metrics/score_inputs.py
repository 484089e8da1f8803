"""What a scoring run reads, and whether a finished score is up to date.

The options (``ScoreConfig``), the test cuts and the decode directory gathered into one ``Utterance`` per test
cut (with what fails for it before any judge runs), its audio at the scorers' rate, and ``score_inputs``: what one
judge's scores depend on, so a rerun with the same inputs skips the judge.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fcodec.data.audio import AudioReadError, read_mono
from fcodec.layout import decode_format
from fcodec.layout.experiment import SCORE_SUMMARY, default_cache_dir, journal_path
from fcodec.metrics.mos import DEFAULT_MOS_JUDGES
from fcodec.metrics.quality import QualityScores
from fcodec.metrics.signal import SignalScores
from fcodec.metrics.text_norm import normalize_text, text_units
from fcodec.utils.cli import UserError

SAMPLE_RATE = 16000  # every judge and signal metric hears 16 kHz (NISQA aside: fcodec.metrics.quality)


@dataclass
class ScoreConfig:
    ref_cuts: Path
    decode_dir: Path
    out_dir: Path  # the score root: judge j's files go to <out_dir>/<label of j>/<test_set>/
    asr_models: Sequence[str]  # the judges: published names or checkpoint files, with distinct labels
    test_set: Optional[str] = None  # default: the decode directory's name
    cache_dir: Optional[Path] = None  # default: see originals_cache_dir
    nj: int = 2  # signal-metric worker processes; 0 computes them in this process
    batch_size: int = 16
    device: str = "cpu"
    max_delay_ms: float = 100.0
    mos_model: Optional[str] = None  # UTMOS: a local SpeechMOS checkout (default: the torch.hub cache)
    mos_judges: Sequence[str] = DEFAULT_MOS_JUDGES  # fcodec.metrics.mos.MOS_JUDGES
    nisqa_model: Optional[str] = None  # NISQA weights (default: shared/models/nisqa/nisqa.tar when present)
    speaker_model: str = "resemblyzer"  # or "none"
    zh_prompt: Optional[str] = None
    max_tokens_per_second: Optional[float] = None  # transcript length cap; None: the judge's default
    require_done: bool = True
    command: str = ""

    @property
    def originals_cache_dir(self) -> Path:
        """Where the originals' transcripts, MOS scores and embeddings are cached: ``cache_dir``, else the
        experiment's (fcodec.layout.experiment.default_cache_dir)."""
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir(self.out_dir)


@dataclass
class JudgeTexts:
    """One judge's raw transcripts of an utterance, and why it cannot be ASR-scored by this judge (if so)."""

    original: Optional[str] = None
    recon: Optional[str] = None
    failure: Optional[str] = None


@dataclass
class Utterance:
    cut_id: str
    language: str
    duration: float
    truth: str
    ref_cut: Any
    recon_cut: Any = None
    original_text: Optional[str] = None
    recon_text: Optional[str] = None
    signal: Optional[SignalScores] = None
    quality: QualityScores = field(default_factory=QualityScores)
    failures: List[Tuple[str, str]] = field(default_factory=list)  # (what, reason), whatever the judge
    asr: Dict[str, JudgeTexts] = field(default_factory=dict)  # judge label -> its transcripts

    def fail(self, what: str, reason: str) -> None:
        self.failures.append((what, reason))

    @property
    def dead(self) -> bool:
        """Nothing can be scored: no reconstruction or no audio."""
        return any(what in ("decode", "audio") for what, _ in self.failures)

    @property
    def asr_ok(self) -> bool:
        return not self.dead and not any(what == "asr" for what, _ in self.failures)


def score_inputs(config: ScoreConfig, spec: str) -> Dict[str, Any]:
    """What one judge's scores depend on: the test cuts (by content), the decode (its settings and manifests), the
    judge's file and the scoring options. A finished score directory holding the same is up to
    date: a rerun skips it (the recipe's stage 8 relies on this)."""
    import hashlib
    import json

    def digest(path: Path) -> str:
        opener = gzip.open if str(path).endswith(".gz") else open  # gzip stamps its write time: hash the content
        with opener(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]

    judge = Path(spec)
    judge_id = {"name": spec}
    if judge.is_file():  # a replaced file (fetched again, or another checkpoint) has another size or time
        judge_id = {"file": str(judge.resolve()), "size": judge.stat().st_size, "mtime_ns": judge.stat().st_mtime_ns}
    # the decode: its settings (the journal's header: model fingerprint, streaming) and what it made
    decode_dir = Path(config.decode_dir)
    try:
        with open(journal_path(decode_dir), encoding="utf-8") as f:  # its first line: the decode's settings
            header = f.readline().strip()
        decode = [header, digest(decode_dir / decode_format.RECON_CUTS), digest(decode_dir / decode_format.FAILED)]
    except OSError:
        decode = None
    return {
        "ref_cuts": digest(Path(config.ref_cuts)),
        "decode": decode,
        "judge": judge_id,
        "options": json.loads(
            json.dumps(
                {
                    k: getattr(config, k)
                    for k in (
                        "max_delay_ms",
                        "mos_model",
                        "mos_judges",
                        "nisqa_model",
                        "speaker_model",
                        "zh_prompt",
                        "max_tokens_per_second",
                    )
                },
                default=str,
            )
        ),
    }


def up_to_date(out: Path, inputs: Dict[str, Any]) -> bool:
    """Whether the judge's score directory ``out`` is finished and was scored from ``inputs``."""
    import json

    try:
        return (out / decode_format.DONE).is_file() and json.loads(
            (out / SCORE_SUMMARY).read_text(encoding="utf-8")
        ).get("inputs") == inputs
    except (OSError, ValueError):
        return False


def load_audio_16k(cut, what: str) -> np.ndarray:
    """Mono float32 audio of ``cut`` at 16 kHz; a ValueError naming ``what`` and the file when it is unusable."""
    try:
        return read_mono(cut, SAMPLE_RATE)
    except AudioReadError as exc:
        raise ValueError(f"{exc.reason} {what} audio: {exc.source}: {exc.detail}") from exc


def collect_utterances(ref_cuts: Sequence[Any], decoded: decode_format.DecodeOutputs) -> List[Utterance]:
    """One ``Utterance`` per test cut, in the test set's order, failed for what cannot be scored whatever the judge."""
    utts = []
    for cut in ref_cuts:
        sup = cut.supervisions[0] if cut.supervisions else None
        utt = Utterance(
            cut_id=cut.id,
            language=(sup.language if sup and sup.language else "unknown"),
            duration=float(cut.duration),
            truth=(sup.text or "") if sup else "",
            ref_cut=cut,
        )
        if cut.id in decoded.failed:
            utt.fail("decode", f"decode failed: {decoded.failed[cut.id]}")
        elif cut.id not in decoded.recon_cuts:
            utt.fail("decode", f"no reconstruction in {decoded.directory / decode_format.RECON_CUTS}")
        else:
            utt.recon_cut = decoded.recon_cuts[cut.id]
        if sup is None:
            utt.fail("asr", "the test cut has no supervision (no reference text or language)")
        elif not sup.language:
            utt.fail("asr", "the supervision has no language: the judge's language cannot be forced")
        elif not text_units(normalize_text(utt.truth, utt.language), utt.language):
            utt.fail("asr", "empty ground-truth text after normalisation")
        utts.append(utt)
    extra = set(decoded.recon_cuts) - {cut.id for cut in ref_cuts}
    if extra:
        logging.warning("%d reconstructions have no test cut and are ignored (e.g. %s)", len(extra), sorted(extra)[0])
    return utts


def check_ref_cuts_match(config: ScoreConfig, ref_cuts: Sequence[Any], decoded: decode_format.DecodeOutputs) -> None:
    """The test cuts and the decode directory must be of the same test set (checked before any judge runs)."""
    if not ref_cuts:
        raise UserError(f"--ref-cuts {config.ref_cuts} holds no cuts: nothing to score")
    known = set(decoded.recon_cuts) | set(decoded.failed)
    if not any(cut.id in known for cut in ref_cuts):
        raise UserError(
            f"none of the {len(ref_cuts)} cuts of --ref-cuts {config.ref_cuts} (e.g. {ref_cuts[0].id}) was decoded "
            f"in --decode-dir {config.decode_dir} ({len(known)} cuts there): give the test set this decode was made "
            f"from"
        )
