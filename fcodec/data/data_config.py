"""The stage-2 data config: which lhotse manifests make which split, and the language of each corpus.

    corpora:
      aishell:                      # data/manifests/aishell_{recordings,supervisions}_<part>.jsonl.gz
        language: zh
        train: [train]
        dev: [dev]
        test: {test_aishell: test}  # output name: part
      librispeech:
        language: en
        train: [train-clean-100, {part: train-clean-360, optional: true}]
        dev: [dev-clean]
        test: {test_librispeech: test-clean}

``loudness: -20`` (top level, beside ``corpora``) normalises every split to that integrated loudness in LUFS
(ITU-R BS.1770; ``--loudness`` of fcodec.bin.make_cuts overrides it; absent or null: off).

A part marked ``optional`` is used when stage 1 prepared it and skipped (with a log line) otherwise; any other
missing part stops stage 2. Hours, sizes and filters are command-line options, so they show in ``run.sh --help``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional

from fcodec.data.text_norm import LANGUAGES
from fcodec.utils.yaml_safe import safe_yaml

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Source:
    corpus: str
    part: str
    language: str
    split: str  # train | dev | test
    test_name: Optional[str] = None  # the output name of a test set, e.g. test_aishell
    optional: bool = False

    @property
    def name(self) -> str:
        return f"{self.corpus}_{self.part}"

    @property
    def label(self) -> str:
        return f"{self.corpus}:{self.part}"


@dataclass(frozen=True)
class DataConfig:
    sources: List[Source]
    loudness: Optional[float] = None  # target LUFS of every split, None: off

    @property
    def corpora(self) -> List[str]:
        return sorted({s.corpus for s in self.sources})

    @property
    def languages(self) -> List[str]:
        return [lang for lang in LANGUAGES if any(s.language == lang for s in self.sources)]

    @property
    def test_names(self) -> List[str]:
        return sorted({s.test_name for s in self.sources if s.test_name})

    def of_split(self, split: str, language: Optional[str] = None) -> List[Source]:
        return [s for s in self.sources if s.split == split and (language is None or s.language == language)]


def _part_entry(entry, where: str) -> Dict:
    if isinstance(entry, str):
        return {"part": entry, "optional": False}
    if isinstance(entry, dict) and isinstance(entry.get("part"), str) and set(entry) <= {"part", "optional"}:
        return {"part": entry["part"], "optional": bool(entry.get("optional", False))}
    raise ValueError(f"{where}: expected a part name or {{part: NAME, optional: true}}, got {entry!r}")


def parse_data_config(data: Dict, origin: str = "data config") -> DataConfig:
    corpora = data.get("corpora") if isinstance(data, dict) else None
    unknown = set(data) - {"corpora", "loudness"} if isinstance(data, dict) else set()
    if unknown:
        raise ValueError(f"{origin}: unknown top-level keys {sorted(unknown)} (known: corpora, loudness)")
    loudness = data.get("loudness") if isinstance(data, dict) else None
    if loudness is not None and (
        isinstance(loudness, bool) or not isinstance(loudness, (int, float)) or not -70 <= loudness <= 0
    ):
        raise ValueError(
            f"{origin}: loudness must be a target in LUFS between -70 and 0 (e.g. -20) or null, got {loudness!r}"
        )
    if not isinstance(corpora, dict) or not corpora:
        raise ValueError(f"{origin}: needs a 'corpora:' mapping of corpus name -> {{language, train, dev, test}}")
    sources: List[Source] = []
    for corpus, spec in corpora.items():
        where = f"{origin}: corpora.{corpus}"
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: expected a mapping")
        unknown = set(spec) - {"language", *SPLITS}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: language, train, dev, test)")
        language = spec.get("language")
        if language not in LANGUAGES:
            raise ValueError(f"{where}.language: must be one of {LANGUAGES}, got {language!r}")
        for split in ("train", "dev"):
            entries = spec.get(split) or []
            if not isinstance(entries, list):
                raise ValueError(f"{where}.{split}: expected a list of parts")
            for entry in entries:
                e = _part_entry(entry, f"{where}.{split}")
                sources.append(Source(corpus, e["part"], language, split, optional=e["optional"]))
        tests = spec.get("test") or {}
        if not isinstance(tests, dict):
            raise ValueError(f"{where}.test: expected a mapping of output name -> part")
        for test_name, entry in tests.items():
            e = _part_entry(entry, f"{where}.test.{test_name}")
            sources.append(
                Source(corpus, e["part"], language, "test", test_name=str(test_name), optional=e["optional"])
            )
    names = [s.test_name for s in sources if s.test_name]
    if len(names) != len(set(names)) or {"train", "dev"} & set(names):
        raise ValueError(f"{origin}: test set names must be unique and not 'train'/'dev': {names}")
    for split in ("train", "dev"):
        if not any(s.split == split for s in sources):
            raise ValueError(f"{origin}: no corpus has a {split} part")
    return DataConfig(sources, None if loudness is None else float(loudness))


def load_data_config(path: os.PathLike) -> DataConfig:
    with open(path, encoding="utf-8") as f:
        return parse_data_config(safe_yaml(f), origin=str(path))
