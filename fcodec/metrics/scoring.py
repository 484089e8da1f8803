"""Score one decode directory with one or more ASR judges: ASR under both protocols, signal metrics, MOS judges,
speaker similarity.

Reads the test cuts and ``<exp_dir>/<model>/decode/<test_set>/`` (see :mod:`fcodec.metrics.decode_format`) and
writes, for each judge, ``<exp_dir>/<model>/score/<judge>/<test_set>/`` (``<judge>``:
:func:`fcodec.metrics.transcribe.judge_label`, e.g. ``small``, ``large-v3``):

    summary.json                         every aggregate (what RESULTS.md is built from)
    utterances.tsv                       one row per test cut: transcripts, per-utterance errors, signal metrics,
                                         MOS of the original and the reconstruction per judge, speaker similarity
    failed.tsv                           cut_id, what failed, why (one row per failure)
    recogs-/errs-<set>-<key>.txt         icefall-style alignments, keys recon_vs_orig (paper protocol),
    wer-summary-<set>.txt                recon_vs_gt and orig_vs_gt (predecessor protocol)
    .done

The judges run one after the other (one Whisper in memory at a time). The signal metrics, the MOS judges and the
speaker similarity do not depend on the ASR judge: they are computed once, during the first judge's pass (the
signal metrics in a process pool, the MOS judges and the speaker encoder in batches on the same chunks, see
:mod:`fcodec.metrics.quality`), and written into every judge's files; the MOS scores and speaker embeddings of
the reconstructions are cached in ``<out_dir>/.reconstructions/``, so a judge scored in a later run does not
compute them again for unchanged audio. A MOS judge that cannot be loaded is skipped with one line, and the rest
is scored.

Nothing disappears silently. A cut that failed to decode, has no reconstruction, or has unreadable audio is
failed for every metric; one without a usable reference text, language or original transcript is failed for
the ASR metrics (an empty transcript of the original fails only for the judge that heard nothing); a metric that
cannot be computed on a pair (PESQ on 0.2 s) is failed for that metric. Each failure is a row of failed.tsv, and
summary.json counts the cuts with at least one failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import gc
import gzip
import logging
import math
import multiprocessing
import os
import statistics
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from fcodec.data.audio import AudioReadError, read_mono
from fcodec.metrics import asr_protocols, decode_format
from fcodec.metrics.asr_protocols import UtteranceUnits
from fcodec.metrics.error_rate import edit_counts, percent
from fcodec.metrics.error_stats import write_error_stats, write_recogs, write_wer_summary
from fcodec.metrics.mos import DEFAULT_MOS_JUDGES
from fcodec.metrics.quality import RECONSTRUCTIONS_CACHE, SIDES, QualityScorer, QualityScores
from fcodec.metrics.signal import METRICS as SIGNAL_METRICS
from fcodec.metrics.signal import SignalScores, score_pair, score_pair_job
from fcodec.metrics.text_norm import error_rate_name, normalize_text, text_units, unit_name
from fcodec.metrics.transcript_cache import audio_digest
from fcodec.utils.cli import UserError
from fcodec.utils.environment import environment_info
from fcodec.utils.io import atomic_write_json, atomic_write_text
from fcodec.utils.names import safe_file_name

SAMPLE_RATE = 16000
COMPARISONS = ("recon_vs_orig", "recon_vs_gt", "orig_vs_gt")
SUMMARY = "summary.json"


@dataclass
class ScoreConfig:
    ref_cuts: Path
    decode_dir: Path
    out_dir: Path  # the score root: judge j's files go to <out_dir>/<label of j>/<test_set>/
    asr_models: Sequence[str]  # the judges: published names or checkpoint files, with distinct labels
    test_set: Optional[str] = None  # default: the decode directory's name
    cache_dir: Optional[Path] = None  # default: see default_cache_dir
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


@dataclass
class JudgeTexts:
    """One judge's raw transcripts of an utterance, and why it cannot be ASR-scored by this judge (if so)."""

    original: Optional[str] = None
    recon: Optional[str] = None
    failure: Optional[str] = None


@dataclass
class JudgeRecord:
    """What a summary says about the judge after its pass (the model itself is released)."""

    label: str
    description: str
    identity: Dict[str, Any]
    random_test_model: bool
    paper_comparable: bool
    cache: str
    cache_hits: int


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


def default_cache_dir(out_dir: Path) -> Path:
    """``exp/<tag>/asr_cache`` for the recipe layout ``exp/<tag>/<model>/score`` (``<model>``: ``pretrained`` or
    ``train_<rate>``), else ``<out_dir>/asr_cache``: the original audio's transcripts are shared by all the models
    of an experiment (one file per test set and judge)."""
    out_dir = Path(out_dir)
    if out_dir.name == "score" and (out_dir.parent.name == "pretrained" or out_dir.parent.name.startswith("train_")):
        return out_dir.parent.parent / "asr_cache"
    return out_dir / "asr_cache"


def judge_dir(out_dir: Path, label: str, test_set: str) -> Path:
    """Where one judge's score files of one test set go."""
    return Path(out_dir) / label / test_set


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
        with open(decode_dir / ".progress.jsonl", encoding="utf-8") as f:  # fcodec.infer.decode.JOURNAL
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


def _up_to_date(out: Path, inputs: Dict[str, Any]) -> bool:
    import json

    try:
        return (out / ".done").is_file() and json.loads((out / SUMMARY).read_text(encoding="utf-8")).get(
            "inputs"
        ) == inputs
    except (OSError, ValueError):
        return False


def load_audio_16k(cut, what: str) -> np.ndarray:
    """Mono float32 audio of ``cut`` at 16 kHz; a ValueError naming ``what`` and the file when it is unusable."""
    try:
        return read_mono(cut, SAMPLE_RATE)
    except AudioReadError as exc:
        raise ValueError(f"{exc.reason} {what} audio: {exc.source}: {exc.detail}") from exc


@contextlib.contextmanager
def signal_pool(nj: int) -> Iterator[Optional[ProcessPoolExecutor]]:
    """A spawn pool of single-threaded workers (no torch in them), or None for in-process scoring.

    A worker that dies (a crash in pesq, a script without a ``__main__`` guard) breaks the pool with an error
    instead of being restarted for ever."""
    if nj <= 0:
        yield None
        return
    saved = {var: os.environ.get(var) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    # workers are started on demand and inherit these: the pool, not BLAS, provides the parallelism
    os.environ.update({var: "1" for var in saved})
    try:
        with ProcessPoolExecutor(max_workers=nj, mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                yield pool
            except BaseException:  # interrupted (Ctrl-C, SIGTERM) or failed: no queued job keeps the workers alive
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@contextlib.contextmanager
def _torch_threads_beside_pool(config: ScoreConfig) -> Iterator[None]:
    """On CPU, leave the pool's cores to the pool: Whisper's intra-op threads spin when they oversubscribe."""
    import torch

    saved = torch.get_num_threads()
    if str(config.device).startswith("cpu") and config.nj > 0:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - config.nj))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _collect_utterances(ref_cuts: Sequence[Any], decoded: decode_format.DecodeOutputs) -> List[Utterance]:
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


def _run(config: ScoreConfig, utts: List[Utterance], quality: QualityScorer) -> List[JudgeRecord]:
    """Every judge's pass over the live utterances; the first pass also feeds the signal pool, the MOS judges and
    the speaker encoder."""
    max_delay = int(round(config.max_delay_ms * SAMPLE_RATE / 1000.0))
    by_id = {utt.cut_id: utt for utt in utts}
    # a Whisper batch decodes until its longest transcript ends: batch utterances of one language and similar
    # length together (whisper-base on 30 LibriSpeech clips, batches of 8: 142 decoder calls instead of 237);
    # the output files keep the test set's order
    live = sorted((utt for utt in utts if not utt.dead), key=lambda utt: (utt.language, utt.duration))
    chunk_size = max(config.batch_size, 1)
    records = []
    with signal_pool(config.nj) as pool:
        pending = []
        for number, spec in enumerate(config.asr_models):
            first = number == 0
            judge, cache = _load_judge(config, spec)
            for start in tqdm(
                range(0, len(live), chunk_size), desc=f"scoring {config.test_set} ({judge.label})", unit="batch"
            ):
                chunk = []
                for utt in live[start : start + chunk_size]:
                    if not first and not utt.asr_ok:
                        continue  # later judges only transcribe
                    try:
                        original = load_audio_16k(utt.ref_cut, "original")
                        recon = load_audio_16k(utt.recon_cut, "reconstruction")
                    except ValueError as exc:
                        utt.fail("audio", str(exc))
                        continue
                    chunk.append((utt, original, recon))
                    if not first:
                        continue
                    if pool is None:
                        utt.signal = score_pair(original, recon, max_delay)
                    else:
                        pending.append(pool.submit(score_pair_job, (utt.cut_id, original, recon, max_delay)))
                _transcribe_chunk([c for c in chunk if c[0].asr_ok], judge, cache)
                if first and chunk and (quality.judges or quality.speaker is not None):
                    scores = quality.score_chunk([(u.cut_id, o, r, u.ref_cut, u.recon_cut) for u, o, r in chunk])
                    for utt, _, _ in chunk:
                        utt.quality = scores[utt.cut_id]
                        for what, reason in quality.failures(utt.quality):
                            utt.fail(what, reason)
                while len(pending) > 4 * max(config.nj, 1):  # bound the audio held in the queue
                    cut_id, scores = pending.pop(0).result()
                    by_id[cut_id].signal = scores
            cache.save()
            if first:
                quality.save()
            records.append(_judge_record(judge, cache))
            _release(judge)
        for result in pending:
            cut_id, scores = result.result()
            by_id[cut_id].signal = scores
    for utt in utts:
        if utt.signal is not None:
            for metric, reason in utt.signal.failures.items():
                utt.fail(metric, reason)
        for texts in utt.asr.values():
            if texts.original is not None and not text_units(
                normalize_text(texts.original, utt.language), utt.language
            ):
                texts.failure = "empty transcript of the original audio (the judge heard nothing)"
    return records


def _load_judge(config: ScoreConfig, spec: str):
    from fcodec.metrics.transcribe import WhisperJudge
    from fcodec.metrics.transcript_cache import TranscriptCache

    prompts = {"zh": config.zh_prompt} if config.zh_prompt else {}
    judge = WhisperJudge(
        spec,
        device=config.device,
        batch_size=config.batch_size,
        prompts=prompts,
        **({} if config.max_tokens_per_second is None else {"max_tokens_per_second": config.max_tokens_per_second}),
    )
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir(config.out_dir)
    cache = TranscriptCache(cache_dir, config.test_set, judge.key, judge.identity)
    logging.info(
        "%s: judge %s%s", config.test_set, judge.description, " (paper-comparable)" if judge.is_paper_judge else ""
    )
    return judge, cache


def _judge_record(judge, cache) -> JudgeRecord:
    return JudgeRecord(
        label=judge.label,
        description=judge.description,
        identity=judge.identity,
        random_test_model=judge.is_random_test_model,
        paper_comparable=judge.is_paper_judge,
        cache=str(cache.path),
        cache_hits=cache.hits,
    )


def _release(judge) -> None:
    """Free the judge's weights before the next one loads (large-v3 is about 6 GB in float32)."""
    device = judge.device
    del judge.model
    gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


def _transcribe_chunk(chunk: Sequence[Tuple[Utterance, np.ndarray, np.ndarray]], judge, cache) -> None:
    audios, languages, targets = [], [], []
    for utt, original, recon in chunk:
        texts = utt.asr.setdefault(judge.label, JudgeTexts())
        digest = audio_digest(original)
        texts.original = cache.get(utt.cut_id, digest)
        if texts.original is None:
            audios.append(original)
            languages.append(utt.language)
            targets.append((texts, utt.cut_id, digest, "original"))
        audios.append(recon)
        languages.append(utt.language)
        targets.append((texts, utt.cut_id, None, "recon"))
    if not audios:
        return
    for (texts, cut_id, digest, which), text in zip(targets, judge.transcribe(audios, languages)):
        if which == "original":
            texts.original = text
            cache.put(cut_id, digest, text)
        else:
            texts.recon = text


def _judge_view(utts: Sequence[Utterance], label: str) -> List[Utterance]:
    """The utterances as one judge sees them: its transcripts, and its own ASR failure added to the common ones."""
    view = []
    for utt in utts:
        texts = utt.asr.get(label, JudgeTexts())
        failures = list(utt.failures) + ([("asr", texts.failure)] if texts.failure else [])
        view.append(dataclasses.replace(utt, original_text=texts.original, recon_text=texts.recon, failures=failures))
    return view


def _units(text: str, language: str) -> List[str]:
    return text_units(normalize_text(text, language), language)


def _mean(values: Sequence[float]) -> Dict[str, float]:
    return {"mean": statistics.fmean(values) if values else math.nan, "n": len(values)}


def _language_summary(
    language: str, utts: Sequence[Utterance], out_dir: Path, set_name: str, quality: QualityScorer
) -> Dict[str, Any]:
    scored = [
        UtteranceUnits(
            u.cut_id,
            language,
            _units(u.truth, language),
            _units(u.original_text, language),
            _units(u.recon_text, language),
        )
        for u in utts
        if u.asr_ok
    ]
    rate_name = error_rate_name(language)
    summary: Dict[str, Any] = {
        "unit": unit_name(language),
        "rate_name": rate_name,
        "num_cuts": len(utts),
        "num_failed": sum(1 for u in utts if u.failures),
        "num_asr_scored": len(scored),
    }
    unit = unit_name(language)
    pairs = {
        "recon_vs_orig": [(u.cut_id, u.original, u.reconstruction) for u in scored],
        "recon_vs_gt": [(u.cut_id, u.truth, u.reconstruction) for u in scored],
        "orig_vs_gt": [(u.cut_id, u.truth, u.original) for u in scored],
    }
    rates = []
    for key, results in pairs.items():
        write_recogs(out_dir / f"recogs-{set_name}-{key}.txt", results)
        counts = write_error_stats(out_dir / f"errs-{set_name}-{key}.txt", results, unit=unit)
        rates.append((key, percent(counts.rate)))
    write_wer_summary(out_dir / f"wer-summary-{set_name}.txt", rates, rate_name=rate_name)
    summary["paper"] = asr_protocols.paper_protocol(scored)
    summary["predecessor"] = asr_protocols.predecessor_protocol(scored)
    summary["vs_truth"] = asr_protocols.against_truth(scored)
    halluc = asr_protocols.hallucinations(scored)
    summary["hallucinations"] = {
        "original": len(halluc["original"]),
        "reconstruction": len(halluc["reconstruction"]),
        "cut_ids": halluc,
    }
    signal = {}
    for metric in SIGNAL_METRICS:
        signal[metric] = _mean([u.signal.values[metric] for u in utts if u.signal and metric in u.signal.values])
    delays = [u.signal.delay_samples * 1000.0 / SAMPLE_RATE for u in utts if u.signal is not None]
    signal["delay_ms"] = _mean(delays)
    summary["signal"] = signal
    mos: Dict[str, Any] = {}
    for judge, dimension in quality.dimensions():
        for side in SIDES:
            scored = [u for u in utts if judge in u.quality.mos]
            values = [u.quality.mos[judge][side][dimension] for u in scored if side not in u.quality.silent]
            mos.setdefault(judge, {}).setdefault(side, {})[dimension] = {
                **_mean([v for v in values if math.isfinite(v)]),
                "silent": sum(side in u.quality.silent for u in scored),  # left out of the mean
            }
    if mos:
        summary["mos"] = mos
    if quality.speaker is not None:
        summary["speaker_similarity"] = _mean(
            [
                u.quality.speaker_similarity
                for u in utts
                if u.quality.speaker_similarity is not None and math.isfinite(u.quality.speaker_similarity)
            ]
        )
    return summary


def _utterance_rows(utts: Sequence[Utterance], quality: QualityScorer) -> str:
    mos_columns = [(judge, dimension, side) for judge, dimension in quality.dimensions() for side in SIDES]
    header = [
        "cut_id",
        "language",
        "duration",
        "truth",
        "original_transcript",
        "recon_transcript",
        "err_orig_vs_gt",
        "err_recon_vs_gt",
        "d_err",
        "err_recon_vs_orig",
        *SIGNAL_METRICS,
        "delay_ms",
        *[f"{judge}_{dimension}_{'orig' if side == 'original' else 'recon'}" for judge, dimension, side in mos_columns],
        *(["speaker_sim"] if quality.speaker is not None else []),
        "silent",
        "failures",
    ]
    lines = ["\t".join(header)]

    def fmt(value: Optional[float]) -> str:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

    for u in utts:
        errs: List[Optional[float]] = [None, None, None, None]
        if u.asr_ok and u.original_text is not None and u.recon_text is not None:
            truth, orig, recon = (_units(t, u.language) for t in (u.truth, u.original_text, u.recon_text))
            e_orig, e_recon = edit_counts(truth, orig).rate, edit_counts(truth, recon).rate
            errs = [
                percent(e_orig),
                percent(e_recon),
                percent(e_recon - e_orig),
                percent(edit_counts(orig, recon).rate),
            ]
        values = [u.signal.values.get(m) if u.signal else None for m in SIGNAL_METRICS]
        delay = u.signal.delay_samples * 1000.0 / SAMPLE_RATE if u.signal else None
        mos = [u.quality.mos.get(judge, {}).get(side, {}).get(dimension) for judge, dimension, side in mos_columns]
        speaker = [u.quality.speaker_similarity] if quality.speaker is not None else []
        row = [
            u.cut_id,
            u.language,
            f"{u.duration:.3f}",
            u.truth,
            u.original_text or "",
            u.recon_text or "",
            *map(fmt, errs),
            *map(fmt, values),
            fmt(delay),
            *map(fmt, mos),
            *map(fmt, speaker),
            ",".join(u.quality.silent),
            "; ".join(f"{w}: {r}" for w, r in u.failures),
        ]
        lines.append("\t".join(" ".join(str(cell).split()) for cell in row))
    return "\n".join(lines) + "\n"


def score(config: ScoreConfig) -> Dict[str, Dict[str, Any]]:
    """Score ``config.decode_dir`` against ``config.ref_cuts`` with every judge of ``config.asr_models``; write each
    judge's score directory; return ``{judge label: summary}``."""
    from fcodec.data.manifest_io import load_cuts
    from fcodec.metrics.transcribe import judge_label

    config.decode_dir, config.out_dir = Path(config.decode_dir), Path(config.out_dir)
    config.test_set = safe_file_name(config.test_set or config.decode_dir.name, "test set name")
    labels = [judge_label(spec) for spec in config.asr_models]
    if not labels:
        raise ValueError("no ASR judge given")
    if len(set(labels)) != len(labels):
        raise ValueError(
            f"two judges would share a score folder: {list(config.asr_models)} are named {labels} "
            "(a judge is named after its published name or its checkpoint file without .pt)"
        )
    if not Path(config.ref_cuts).is_file():
        raise FileNotFoundError(f"test cuts {config.ref_cuts} not found")
    inputs = {label: score_inputs(config, spec) for label, spec in zip(labels, config.asr_models)}
    done = [label for label in labels if _up_to_date(judge_dir(config.out_dir, label, config.test_set), inputs[label])]
    for label in done:
        logging.info(
            "%s is up to date (the same cuts, decode, judge and options); skipped",
            judge_dir(config.out_dir, label, config.test_set),
        )
    if len(done) == len(labels):
        return {}
    config = dataclasses.replace(
        config, asr_models=[s for s, label in zip(config.asr_models, labels) if label not in done]
    )
    labels = [label for label in labels if label not in done]
    ref_cuts = list(load_cuts(config.ref_cuts))
    decoded = decode_format.read_decode_dir(config.decode_dir, require_done=config.require_done)
    check_ref_cuts_match(config, ref_cuts, decoded)
    for label in labels:
        out = judge_dir(config.out_dir, label, config.test_set)
        if (out / ".done").is_file():  # a finished score of other inputs is kept beside the new one, not overwritten
            aside = out.with_name(f"{out.name}.old.{datetime.datetime.now():%Y%m%d-%H%M%S}")
            while aside.exists():
                aside = aside.with_name(aside.name + "_")
            out.rename(aside)
            logging.info(
                "%s was scored from other inputs (cuts, decode, judge or options); set aside as %s", out, aside
            )
        out.mkdir(parents=True, exist_ok=True)
        (out / ".done").unlink(missing_ok=True)

    logging.info("scoring %s (%d cuts) with the judges %s", config.decode_dir, len(ref_cuts), ", ".join(labels))

    utts = _collect_utterances(ref_cuts, decoded)
    with _torch_threads_beside_pool(config):
        quality = _load_quality(config)
        records = _run(config, utts, quality)
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    summaries = {
        record.label: _write_judge(
            config, _judge_view(utts, record.label), record, decoded.summary, quality, date, inputs[record.label]
        )
        for record in records
    }
    nothing = [label for label, summary in summaries.items() if summary["num_scored"] == 0]
    if nothing:
        raise NothingScoredError(
            f"no utterance of {config.decode_dir} could be scored by {', '.join(nothing)} ({len(utts)} test cuts, "
            f"all failed): see {judge_dir(config.out_dir, nothing[0], config.test_set) / 'failed.tsv'}; rerun the "
            f"decode if its outputs are missing"
        )
    return summaries


class NothingScoredError(UserError, RuntimeError):
    """Every test cut failed: there is no result, and no .done is written."""

    exit_code = 1  # not a bad option: the state of the folder or the run


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


def _load_quality(config: ScoreConfig) -> QualityScorer:
    """The MOS judges of ``config.mos_judges`` that load (the others skipped with a line) and the speaker
    encoder, on the Whisper judge's device and with as many CPU threads as torch has beside the signal pool."""
    import torch

    from fcodec.metrics.mos import load_mos_judges
    from fcodec.metrics.speaker_similarity import load_speaker_encoder

    judges, skipped = load_mos_judges(
        config.mos_judges,
        nisqa_model=config.nisqa_model,
        utmos_model=config.mos_model,
        device=config.device,
        num_threads=torch.get_num_threads(),
    )
    speaker, speaker_skipped = load_speaker_encoder(config.speaker_model, device=config.device)
    if speaker is None:
        logging.warning(speaker_skipped)
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir(config.out_dir)
    return QualityScorer(
        judges,
        skipped,
        speaker,
        speaker_skipped,
        cache_dir,
        config.test_set,
        batch_size=config.batch_size,
        reconstruction_cache_dir=Path(config.out_dir) / RECONSTRUCTIONS_CACHE,
    )


def _write_judge(
    config: ScoreConfig,
    utts: List[Utterance],
    judge: JudgeRecord,
    decode_summary: Dict[str, Any],
    quality: QualityScorer,
    date: str,
    inputs: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    out_dir = judge_dir(config.out_dir, judge.label, config.test_set)
    groups: Dict[str, List[Utterance]] = defaultdict(list)
    for utt in utts:
        groups[utt.language].append(utt)
    languages = {}
    for language, members in sorted(groups.items()):
        set_name = config.test_set if len(groups) == 1 else f"{config.test_set}_{language}"
        languages[language] = _language_summary(language, members, out_dir, set_name, quality)

    failures = [(u.cut_id, what, reason) for u in utts for what, reason in u.failures]
    atomic_write_text(
        out_dir / "failed.tsv",
        "cut_id\twhat\treason\n" + "".join(f"{c}\t{w}\t{' '.join(r.split())}\n" for c, w, r in failures),
    )
    atomic_write_text(out_dir / "utterances.tsv", _utterance_rows(utts, quality))
    reasons: Dict[str, int] = defaultdict(int)
    for _, what, _ in failures:
        reasons[what] += 1
    num_failed = sum(1 for u in utts if u.failures)
    summary = {
        "test_set": config.test_set,
        "ref_cuts": str(config.ref_cuts),
        "decode_dir": str(config.decode_dir),
        **{key: decode_summary.get(key) for key in ("frame_rate", "bitrate", "tokens_per_second", "model")},
        **({"posthoc": decode_summary["posthoc"]} if decode_summary.get("posthoc") else {}),  # a post-hoc baseline
        "num_cuts": len(utts),
        "num_scored": len(utts) - num_failed,
        "num_failed": num_failed,
        "failures_by_metric": dict(sorted(reasons.items())),
        "asr": {
            "label": judge.label,
            "judge": judge.description,
            "identity": judge.identity,
            "paper_comparable": judge.paper_comparable,
            "random_test_model": judge.random_test_model,
            "cache": judge.cache,
            "cache_hits": judge.cache_hits,
        },
        **quality.info(),
        "signal_options": {"sample_rate": SAMPLE_RATE, "max_delay_ms": config.max_delay_ms},
        "languages": languages,
        "inputs": inputs,
        "command": config.command or " ".join(sys.argv),
        "date": date,
        "environment": environment_info(),
    }
    atomic_write_json(out_dir / SUMMARY, _finite(summary))
    if summary["num_scored"]:  # a folder of failures only is not a result a rerun should keep
        decode_format.mark_done(out_dir)
    for language, block in languages.items():
        logging.info(
            "%s [%s] judge %s: paper d%s %.2f%%, predecessor d%s %.2f%%, %d scored, %d failed",
            config.test_set,
            language,
            judge.label,
            block["rate_name"],
            block["paper"]["d_err_pct"],
            block["rate_name"],
            block["predecessor"]["d_err_mean_pct"],
            block["num_cuts"] - block["num_failed"],
            block["num_failed"],
        )
    return summary


def _finite(obj: Any) -> Any:
    """JSON has no NaN: an undefined aggregate (nothing to average) is written as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj
