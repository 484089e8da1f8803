"""The ASR judges' passes over the utterances of a scoring run, one Whisper in memory at a time.

The first pass also feeds the signal-metric pool, the MOS judges and the speaker encoder
(fcodec.metrics.quality): those do not depend on the ASR judge. The originals' transcripts come from and go to
the transcript cache (fcodec.metrics.transcript_cache).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from fcodec.metrics.quality import QualityScorer
from fcodec.metrics.score_inputs import SAMPLE_RATE, JudgeTexts, ScoreConfig, Utterance, load_audio_16k
from fcodec.metrics.signal import score_pair, score_pair_job
from fcodec.metrics.text_norm import normalize_text, text_units
from fcodec.metrics.transcript_cache import audio_digest


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


@contextlib.contextmanager
def torch_threads_beside_pool(config: ScoreConfig) -> Iterator[None]:
    """On CPU, leave the pool's cores to the pool: Whisper's intra-op threads spin when they oversubscribe."""
    import torch

    saved = torch.get_num_threads()
    if str(config.device).startswith("cpu") and config.nj > 0:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - config.nj))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def run_judges(config: ScoreConfig, utts: List[Utterance], quality: QualityScorer, pool=None) -> List[JudgeRecord]:
    """Every judge's pass over the live utterances; the first pass also feeds the signal metrics (to ``pool``, a
    :func:`fcodec.metrics.signal.signal_pool`, or in this process when None), the MOS judges and the speaker
    encoder."""
    max_delay = int(round(config.max_delay_ms * SAMPLE_RATE / 1000.0))
    by_id = {utt.cut_id: utt for utt in utts}
    # a Whisper batch decodes until its longest transcript ends: batch utterances of one language and similar
    # length together (whisper-base on 30 LibriSpeech clips, batches of 8: 142 decoder calls instead of 237);
    # the output files keep the test set's order
    live = sorted((utt for utt in utts if not utt.dead), key=lambda utt: (utt.language, utt.duration))
    chunk_size = max(config.batch_size, 1)
    records = []
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
    cache = TranscriptCache(config.originals_cache_dir, config.test_set, judge.key, judge.identity)
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


def judge_view(utts: Sequence[Utterance], label: str) -> List[Utterance]:
    """The utterances as one judge sees them: its transcripts, and its own ASR failure added to the common ones."""
    view = []
    for utt in utts:
        texts = utt.asr.get(label, JudgeTexts())
        failures = list(utt.failures) + ([("asr", texts.failure)] if texts.failure else [])
        view.append(dataclasses.replace(utt, original_text=texts.original, recon_text=texts.recon, failures=failures))
    return view
