"""Stage 2: lhotse manifests -> checked, normalised, language-tagged cuts -> train / dev / test splits.

For every corpus part the data config names (a *source*):
  * recordings + supervisions -> cuts trimmed to their supervision (one supervision per cut), 16 kHz;
  * every recording is read in full (in parallel, with progress): missing, unreadable, empty or non-finite
    audio, cuts shorter than ``min_utt_duration`` and transcripts empty after normalisation go to the bad-input
    report with the reason, everything else is kept;
  * text normalised (:mod:`fcodec.data.text_norm`), ``supervision.language`` set to ``zh``/``en`` and the cut id
    prefixed with it (``zh_BAC009S0002W0122``);
  * written to ``<out>/sources/<corpus>_<part>.jsonl.gz`` (+ ``.bad.tsv``), so a split can be rebuilt without
    reading audio again.
Then the splits: ``train`` (hours per language, seeded, languages interleaved), ``dev`` (a fixed number of
utterances per language, interleaved), one test set per config entry (capped, seeded, sorted by id); train and
dev leave out cuts longer than ``max_utt_duration``. With a loudness target (``loudness`` of the data config, or ``--loudness``; off by default) every split's cuts get
the gain to that integrated loudness, recorded in the cuts (:mod:`fcodec.data.loudness`). ``bad_input.tsv`` lists
every utterance left out, including
those stage 1 had to leave out; ``stats.json`` / ``stats.txt`` give hours and utterances per language per split.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fcodec.data import audio_check as why
from fcodec.data.audio import AudioReadError, read_mono
from fcodec.data.bad_input import BadInput, read_report, write_report
from fcodec.data.data_config import DataConfig, Source
from fcodec.data.manifest_io import load_cuts, require_file, save_manifest
from fcodec.data.mix import interleave, sample_ids, select_by_hours
from fcodec.data.sources import REFUSED, UnsafeSourceError, check_sources
from fcodec.data.text_norm import normalize_text
from fcodec.data.transcripts import control_characters
from fcodec.utils.io import atomic_write_text

SAMPLE_RATE = 16000
BAD_INPUT = "bad_input.tsv"


@dataclass
class CutsOptions:
    hours: Dict[str, Optional[float]] = field(default_factory=dict)  # language -> training hours (None: all)
    dev_utts: Optional[int] = 200  # per language
    num_test_utts: Optional[int] = 2000  # per test set
    min_utt_duration: float = 0.5  # an utterance's length, not a batch's
    max_utt_duration: Optional[float] = 20.0  # train and dev only
    full_audio_check: bool = True
    seed: int = 0
    num_workers: int = 4
    keep_existing: bool = False  # only rebuild outputs that are missing
    loudness: Optional[float] = None  # target LUFS of every split (None: the audio's own level)


def source_path(out_dir: Path, source: Source) -> Path:
    return out_dir / "sources" / f"{source.name}.jsonl.gz"


def _check_recording(recording, full: bool) -> Optional[why.Problem]:
    try:
        check_sources(recording)
    except UnsafeSourceError as exc:
        return why.Problem(REFUSED, str(exc))
    sources = recording.sources
    if len(sources) == 1 and sources[0].type == "file":
        path = sources[0].source
        return why.check_audio(path) if full else why.probe_audio(path)
    try:  # in-memory audio (or URLs and commands, when allowed): let lhotse read it
        read_mono(recording, recording.sampling_rate)
    except AudioReadError as exc:
        return why.Problem(exc.reason, exc.detail)
    return None


def _recording_path(recording) -> str:
    return recording.sources[0].source if recording.sources else ""


def build_source(source: Source, manifest_dir: Path, options: CutsOptions) -> Tuple[object, List[BadInput]]:
    """Cuts of one corpus part that pass every check, and the bad-input rows of those that do not."""
    from lhotse import CutSet, RecordingSet, SupervisionSet
    from lhotse.utils import fastcopy

    made_by = "written by stage 1 (lhotse manifests); run stage 1 first"
    recordings = RecordingSet.from_file(
        require_file(
            manifest_dir / f"{source.corpus}_recordings_{source.part}.jsonl.gz", "recordings manifest", made_by
        )
    )
    supervisions = SupervisionSet.from_file(
        require_file(
            manifest_dir / f"{source.corpus}_supervisions_{source.part}.jsonl.gz", "supervisions manifest", made_by
        )
    )

    rec_list = list(recordings)
    problems = why.check_many(
        rec_list,
        lambda r: _check_recording(r, options.full_audio_check),
        options.num_workers,
        desc=f"{source.label}: {'reading' if options.full_audio_check else 'probing'} audio",
    )
    bad_recordings = {rec_list[i].id: p for i, p in problems.items()}
    by_id = {r.id: r for r in rec_list}

    bad: List[BadInput] = []
    for sup in supervisions:
        if sup.recording_id not in by_id:
            bad.append(
                BadInput(
                    sup.id,
                    source.label,
                    "",
                    why.MISSING,
                    f"recording {sup.recording_id} is not in the recordings manifest",
                )
            )
        elif sup.recording_id in bad_recordings:
            p = bad_recordings[sup.recording_id]
            bad.append(BadInput(sup.id, source.label, _recording_path(by_id[sup.recording_id]), p.reason, p.detail))
    usable = RecordingSet.from_recordings(r for r in rec_list if r.id not in bad_recordings)
    cuts = CutSet.from_manifests(recordings=usable, supervisions=supervisions).trim_to_supervisions(
        keep_overlapping=False
    )

    kept = []
    prefix = f"{source.language}_"
    for cut in cuts:
        sup = cut.supervisions[0]
        path = _recording_path(cut.recording)
        if cut.duration < options.min_utt_duration:
            bad.append(
                BadInput(
                    sup.id, source.label, path, why.TOO_SHORT, f"{cut.duration:.3f} s < {options.min_utt_duration} s"
                )
            )
            continue
        found = control_characters(sup.text or "")
        if found:  # a supervisions manifest from a recipe that does not check its transcripts
            bad.append(
                BadInput(
                    sup.id,
                    source.label,
                    path,
                    why.CONTROL_CHARACTERS,
                    f"transcript {sup.text!r} holds {' '.join(found)}",
                )
            )
            continue
        text = normalize_text(sup.text or "", source.language)
        if not text:
            bad.append(BadInput(sup.id, source.label, path, why.EMPTY_TRANSCRIPT, f"transcript {sup.text!r}"))
            continue
        cut = fastcopy(cut, id=prefix + cut.id, supervisions=[fastcopy(sup, text=text, language=source.language)])
        if cut.sampling_rate != SAMPLE_RATE:
            cut = cut.resample(SAMPLE_RATE)
        kept.append(cut)
    logging.info(f"{source.label}: {len(kept)} cuts kept, {len(bad)} left out ({_reason_counts(bad) or 'none'})")
    return CutSet.from_cuts(kept), bad


def _reason_counts(rows: List[BadInput]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(Counter(r.reason for r in rows).items()))


def _split_stats(cuts) -> Dict[str, Dict[str, float]]:
    stats: Dict[str, Dict[str, float]] = {}
    for cut in cuts:
        lang = cut.supervisions[0].language
        entry = stats.setdefault(lang, {"utts": 0, "hours": 0.0})
        entry["utts"] += 1
        entry["hours"] += cut.duration / 3600.0
    return {lang: {"utts": v["utts"], "hours": round(v["hours"], 4)} for lang, v in sorted(stats.items())}


class CutsBuilder:
    """Builds every stage-2 output in ``out_dir`` (see the module docstring)."""

    def __init__(self, config: DataConfig, manifest_dir: Path, out_dir: Path, options: CutsOptions):
        self.config, self.manifest_dir, self.out_dir, self.options = config, Path(manifest_dir), Path(out_dir), options
        self._sources: Dict[str, object] = {}
        self.rebuilt: List[str] = []

    # ---- sources
    def _available(self, sources: List[Source]) -> List[Source]:
        out = []
        for s in sources:
            present = (self.manifest_dir / f"{s.corpus}_recordings_{s.part}.jsonl.gz").is_file()
            if s.optional and not present and not source_path(self.out_dir, s).is_file():
                logging.info(f"{s.label}: optional and not prepared by stage 1; skipped")
                continue
            out.append(s)
        return out

    def source_cuts(self, source: Source):
        if source.name in self._sources:
            return self._sources[source.name]
        path = source_path(self.out_dir, source)
        bad_path = path.with_name(f"{source.name}.bad.tsv")
        if self.options.keep_existing and path.is_file() and bad_path.is_file():
            cuts = load_cuts(path)
        else:
            cuts, bad = build_source(source, self.manifest_dir, self.options)
            write_report(bad_path, bad)
            save_manifest(cuts, path)
            self.rebuilt.append(str(path))
        self._sources[source.name] = cuts
        return cuts

    # ---- splits
    def _needed(self, path: Path) -> bool:
        return not (self.options.keep_existing and path.is_file())

    def _write(self, cuts, name: str) -> None:
        from fcodec.data.loudness import normalize_cuts

        cuts = normalize_cuts(cuts, self.options.loudness, self.options.num_workers, desc=name)
        path = self.out_dir / f"{name}.jsonl.gz"
        save_manifest(cuts, path)
        self.rebuilt.append(str(path))

    def _in_range(self, cuts, split: str):
        limit = self.options.max_utt_duration
        if limit is None:
            return cuts
        kept = cuts.filter(lambda c: c.duration <= limit).to_eager()
        if len(kept) < len(cuts):
            logging.info(f"{split}: {len(cuts) - len(kept)} cuts longer than {limit} s left out of {split}")
        return kept

    def _language_pool(self, split: str, language: str):
        from lhotse import CutSet

        sources = self._available(self.config.of_split(split, language))
        cuts = CutSet.from_cuts(c for s in sources for c in self.source_cuts(s))
        return self._in_range(cuts, f"{split} {language}")

    def build_train(self) -> None:
        parts = []
        for language in self.config.languages:
            pool = self._language_pool("train", language)
            hours = self.options.hours.get(language)
            durations = {c.id: c.duration for c in pool}
            available = sum(durations.values()) / 3600.0
            if hours is not None and hours > available:
                logging.warning(f"train {language}: {hours} h asked, only {available:.3f} h available; taking all")
            chosen = set(select_by_hours(durations, hours, seed=f"train-{language}-{self.options.seed}"))
            parts.append(pool.filter(lambda c: c.id in chosen).to_eager())
        self._write(interleave(parts, seed=self.options.seed), "train")

    def build_dev(self) -> None:
        parts = []
        for language in self.config.languages:
            pool = self._language_pool("dev", language)
            chosen = set(sample_ids([c.id for c in pool], self.options.dev_utts, f"dev-{language}-{self.options.seed}"))
            parts.append(pool.filter(lambda c: c.id in chosen).to_eager())
        self._write(interleave(parts, seed=self.options.seed), "dev")

    def build_test(self, name: str) -> None:
        from lhotse import CutSet

        sources = self._available([s for s in self.config.of_split("test") if s.test_name == name])
        pool = CutSet.from_cuts(c for s in sources for c in self.source_cuts(s))
        chosen = set(sample_ids([c.id for c in pool], self.options.num_test_utts, f"{name}-{self.options.seed}"))
        self._write(CutSet.from_cuts(sorted((c for c in pool if c.id in chosen), key=lambda c: c.id)), name)

    def build_report(self) -> List[BadInput]:
        rows: List[BadInput] = []
        for source in self._available(self.config.sources):
            self.source_cuts(source)  # makes the source (and its .bad.tsv) when missing
            rows += read_report(source_path(self.out_dir, source).with_name(f"{source.name}.bad.tsv"))
        for corpus in self.config.corpora:
            for excluded in sorted(self.manifest_dir.glob(f"{corpus}_excluded_*.tsv")):
                rows += read_report(excluded)
        path = self.out_dir / BAD_INPUT
        if not path.is_file() or set(read_report(path)) != set(rows):
            write_report(path, rows)
            self.rebuilt.append(str(path))
        return rows

    # ---- everything
    def run(self) -> Dict:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        splits = ["train", "dev", *self.config.test_names]
        for name in splits:
            if self._needed(self.out_dir / f"{name}.jsonl.gz"):
                if name == "train":
                    self.build_train()
                elif name == "dev":
                    self.build_dev()
                else:
                    self.build_test(name)
            else:
                logging.info(f"{name}: {self.out_dir / (name + '.jsonl.gz')} exists; kept")
        bad = self.build_report()
        return self.write_stats(splits, bad)

    def write_stats(self, splits: List[str], bad: List[BadInput]) -> Dict:
        stats = {
            "splits": {name: _split_stats(load_cuts(self.out_dir / f"{name}.jsonl.gz")) for name in splits},
            "bad_input": dict(sorted(Counter(r.reason for r in bad).items())),
            "options": {
                "hours": self.options.hours,
                "dev_utts": self.options.dev_utts,
                "num_test_utts": self.options.num_test_utts,
                "min_utt_duration": self.options.min_utt_duration,
                "max_utt_duration": self.options.max_utt_duration,
                "seed": self.options.seed,
                "loudness": self.options.loudness,
            },
        }
        lines = [f"{'split':<20} {'language':<8} {'utts':>8} {'hours':>10}"]
        for name, per_lang in stats["splits"].items():
            for lang, entry in per_lang.items():
                lines.append(f"{name:<20} {lang:<8} {entry['utts']:>8d} {entry['hours']:>10.3f}")
        lines.append(
            f"bad input: {len(bad)} utterances left out ({_reason_counts(bad) or 'none'}), listed in {BAD_INPUT}"
        )
        table = "\n".join(lines)
        for line in lines:
            logging.info(line)
        logging.info(f"bad-input report: {self.out_dir / BAD_INPUT}")
        # Rewritten only when they change, so rebuilding one deleted split leaves the others' files alone.
        _write_if_changed(self.out_dir / "stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
        _write_if_changed(self.out_dir / "stats.txt", table + "\n")
        return stats


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)


def parse_hours(values: List[str], languages: List[str]) -> Dict[str, Optional[float]]:
    """``["zh=100", "en=all"]`` -> ``{"zh": 100.0, "en": None}``; a language not named takes all its hours."""
    hours: Dict[str, Optional[float]] = {lang: None for lang in languages}
    for value in values:
        lang, sep, amount = value.partition("=")
        if not sep or lang not in languages:
            raise ValueError(f"--hours takes LANG=HOURS with LANG in {languages}, got {value!r}")
        if amount.strip().lower() in ("all", ""):
            hours[lang] = None
            continue
        number = float(amount)
        if not math.isfinite(number) or number <= 0:
            raise ValueError(f"--hours {value!r}: hours must be a positive number or 'all'")
        hours[lang] = number
    return hours
