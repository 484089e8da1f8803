import shutil
from pathlib import Path

import pytest
from lhotse import CutSet

from fcodec.data.bad_input import read_report
from fcodec.data.cuts import CutsBuilder, CutsOptions, parse_hours, source_path
from fcodec.data.data_config import parse_data_config
from fcodec.data.mix import sample_ids, select_by_hours
from fcodec.data.synth.mini_corpus import BROKEN_REPORT, plan_corpus
from tests.data.helpers import SMALL_SPEC


def _ids(path: Path):
    return [c.id for c in CutSet.from_file(path)]


def test_every_broken_file_is_reported_by_name_and_every_good_one_kept(small_corpus, small_cuts, data_config):
    expected = {(r.id, r.reason) for r in read_report(small_corpus / BROKEN_REPORT)}
    report = read_report(small_cuts / "bad_input.tsv")
    assert {(r.id, r.reason) for r in report} == expected
    for row in report:  # the path names the file, relative to the corpus in the synthesiser's list
        broken = next(b for b in read_report(small_corpus / BROKEN_REPORT) if b.id == row.id)
        assert row.path.endswith(broken.path)

    good = {("zh_" if u.language == "zh" else "en_") + u.uid for u in plan_corpus(SMALL_SPEC)}
    kept = set()
    for source in data_config.sources:
        kept |= set(_ids(source_path(small_cuts, source)))
    assert kept == good
    splits = set(_ids(small_cuts / "train.jsonl.gz")) | set(_ids(small_cuts / "dev.jsonl.gz"))
    splits |= set(_ids(small_cuts / "test_aishell.jsonl.gz")) | set(_ids(small_cuts / "test_librispeech.jsonl.gz"))
    assert splits == good  # no hours cap, no dev/test cap in this fixture: every good utterance is used


def test_cuts_are_16k_tagged_prefixed_and_normalised(small_cuts):
    for name, languages in [
        ("train", {"zh", "en"}),
        ("dev", {"zh", "en"}),
        ("test_aishell", {"zh"}),
        ("test_librispeech", {"en"}),
    ]:
        cuts = CutSet.from_file(small_cuts / f"{name}.jsonl.gz")
        assert {c.supervisions[0].language for c in cuts} == languages
        for cut in cuts:
            sup = cut.supervisions[0]
            assert len(cut.supervisions) == 1 and cut.sampling_rate == 16000
            assert cut.id == f"{sup.language}_{sup.id}"
            assert sup.text and sup.text == sup.text.strip()
            if sup.language == "zh":
                assert " " not in sup.text
            else:
                assert sup.text == sup.text.upper()
    train = _ids(small_cuts / "train.jsonl.gz")
    assert {i[:3] for i in train[:6]} == {"zh_", "en_"}  # the languages are interleaved, not one after the other


def _rebuild(small_cuts, small_manifests, data_config, tmp_path, **options):
    """A stage-2 run that reuses the fixture's checked sources (no audio is read again)."""
    out = tmp_path / "cuts"
    shutil.copytree(small_cuts / "sources", out / "sources")
    opts = CutsOptions(**{"num_workers": 2, "keep_existing": True, **options})
    CutsBuilder(data_config, small_manifests, out, opts).run()
    return out


def test_training_mix_meets_its_hours(small_cuts, small_manifests, data_config, tmp_path):
    hours = {"zh": 0.01, "en": 0.006}
    out = _rebuild(small_cuts, small_manifests, data_config, tmp_path, hours=hours, seed=3)
    train = CutSet.from_file(out / "train.jsonl.gz")
    for language, target in hours.items():
        durations = [c.duration for c in train if c.supervisions[0].language == language]
        total = sum(durations) / 3600
        longest = max(c.duration for c in CutSet.from_file(small_cuts / "train.jsonl.gz")) / 3600
        assert target - longest <= total <= target
    again = _rebuild(small_cuts, small_manifests, data_config, tmp_path / "again", hours=hours, seed=3)
    assert _ids(again / "train.jsonl.gz") == _ids(out / "train.jsonl.gz")
    other = _rebuild(small_cuts, small_manifests, data_config, tmp_path / "other", hours=hours, seed=4)
    assert set(_ids(other / "train.jsonl.gz")) != set(_ids(out / "train.jsonl.gz"))


def test_dev_and_test_caps_and_the_duration_limit(small_cuts, small_manifests, data_config, tmp_path):
    all_dev = CutSet.from_file(small_cuts / "dev.jsonl.gz")
    limit = sorted(c.duration for c in all_dev)[len(all_dev) // 2]  # the median: some cuts are over it
    out = _rebuild(
        small_cuts, small_manifests, data_config, tmp_path, dev_utts=2, num_test_utts=2, max_utt_duration=limit
    )
    dev = CutSet.from_file(out / "dev.jsonl.gz")
    for language in ("zh", "en"):
        in_range = [c for c in all_dev if c.supervisions[0].language == language and c.duration <= limit]
        assert sum(c.supervisions[0].language == language for c in dev) == min(2, len(in_range))
    assert all(c.duration <= limit for c in dev)
    assert all(c.duration <= limit for c in CutSet.from_file(out / "train.jsonl.gz"))
    for name in ("test_aishell", "test_librispeech"):
        ids = _ids(out / f"{name}.jsonl.gz")
        assert len(ids) == 2 and ids == sorted(ids)
        assert set(ids) <= set(_ids(small_cuts / f"{name}.jsonl.gz"))
    # test sets are not cut by the training duration limit
    full = _rebuild(small_cuts, small_manifests, data_config, tmp_path / "full", max_utt_duration=limit)
    assert _ids(full / "test_aishell.jsonl.gz") == _ids(small_cuts / "test_aishell.jsonl.gz")
    assert any(c.duration > limit for c in CutSet.from_file(full / "test_aishell.jsonl.gz"))


def test_keep_existing_rebuilds_only_what_is_missing(small_cuts, small_manifests, data_config, tmp_path):
    out = tmp_path / "cuts"
    shutil.copytree(small_cuts, out)
    (out / "dev.jsonl.gz").unlink()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    builder = CutsBuilder(
        data_config, small_manifests, out, CutsOptions(dev_utts=None, num_test_utts=None, keep_existing=True)
    )
    builder.run()
    assert builder.rebuilt == [str(out / "dev.jsonl.gz")]
    assert [str(p) for p, t in before.items() if p.stat().st_mtime_ns != t] == []
    assert _ids(out / "dev.jsonl.gz") == _ids(small_cuts / "dev.jsonl.gz")


def test_missing_manifests_name_the_file_and_the_stage(data_config, tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"recordings manifest not found: expected .*aishell_recordings_"
        r"train\.jsonl\.gz \(written by stage 1",
    ):
        CutsBuilder(data_config, tmp_path / "nowhere", tmp_path / "cuts", CutsOptions()).run()


def test_select_by_hours_and_sample_ids():
    durations = {f"u{i:03d}": 1.0 + (i * 37 % 11) for i in range(200)}
    total = sum(durations.values())
    chosen = select_by_hours(durations, 0.1, seed="s")
    got = sum(durations[i] for i in chosen)
    assert 360 - max(durations.values()) <= got <= 360
    assert select_by_hours(durations, total / 3600 + 1, seed="s") == sorted(durations)
    assert select_by_hours(durations, None, seed="s") == sorted(durations)
    assert select_by_hours(dict(reversed(list(durations.items()))), 0.1, seed="s") == chosen  # order-free
    assert sample_ids(list(durations), 5, "x") == sample_ids(list(reversed(list(durations))), 5, "x")
    assert len(sample_ids(list(durations), 5, "x")) == 5 and sample_ids(["b", "a"], None, "x") == ["a", "b"]


def test_hours_and_config_errors_are_clear():
    assert parse_hours(["zh=2.5", "en=all"], ["zh", "en"]) == {"zh": 2.5, "en": None}
    with pytest.raises(ValueError, match="LANG=HOURS"):
        parse_hours(["fr=1"], ["zh", "en"])
    with pytest.raises(ValueError, match="positive"):
        parse_hours(["zh=-1"], ["zh", "en"])
    with pytest.raises(ValueError, match="language: must be one of"):
        parse_data_config({"corpora": {"x": {"language": "fr", "train": ["a"]}}})
    with pytest.raises(ValueError, match="no corpus has a train part"):
        parse_data_config({"corpora": {"x": {"language": "zh", "dev": ["a"]}}})
    with pytest.raises(ValueError, match="no corpus has a dev part"):
        parse_data_config({"corpora": {"x": {"language": "zh", "train": ["a"]}}})
    config = parse_data_config(
        {
            "corpora": {
                "ls": {
                    "language": "en",
                    "train": ["a", {"part": "b", "optional": True}],
                    "dev": ["d"],
                    "test": {"test_ls": "c"},
                }
            }
        }
    )
    assert [(s.part, s.split, s.optional, s.test_name) for s in config.sources] == [
        ("a", "train", False, None),
        ("b", "train", True, None),
        ("d", "dev", False, None),
        ("c", "test", False, "test_ls"),
    ]


def test_an_optional_part_that_was_not_prepared_is_skipped(small_cuts, small_manifests, tmp_path):
    config = parse_data_config(
        {
            "corpora": {
                "librispeech": {
                    "language": "en",
                    "train": ["train-clean-100", {"part": "train-clean-360", "optional": True}],
                    "dev": ["dev-clean"],
                    "test": {"test_librispeech": "test-clean"},
                }
            }
        }
    )
    out = tmp_path / "cuts"
    shutil.copytree(small_cuts / "sources", out / "sources")
    CutsBuilder(config, small_manifests, out, CutsOptions(keep_existing=True, dev_utts=None)).run()
    assert set(_ids(out / "train.jsonl.gz")) == set(
        _ids(small_cuts / "sources" / "librispeech_train-clean-100.jsonl.gz")
    )


def test_loudness_normalisation_is_recorded_in_the_cuts_and_applied_on_load(
    small_cuts, small_manifests, data_config, tmp_path
):
    from fcodec.data.loudness import PEAK, measure_loudness

    out = _rebuild(small_cuts, small_manifests, data_config, tmp_path, loudness=-20.0)
    plain = {c.id: c for c in CutSet.from_file(small_cuts / "dev.jsonl.gz")}
    for name in ("train", "dev", "test_aishell"):
        for cut in CutSet.from_file(out / f"{name}.jsonl.gz"):
            record = cut.custom["loudness"]
            audio = cut.load_audio()[0]
            assert record["target"] == -20.0 and record["measured"] is not None
            if record["peak_limited"]:
                assert abs(audio).max() == pytest.approx(PEAK, rel=1e-3)
            else:  # the gain in the manifest brings the utterance to the target, whatever it was before
                assert measure_loudness(audio, 16000) == pytest.approx(-20.0, abs=0.05)
            if cut.id in plain:
                before = measure_loudness(plain[cut.id].load_audio()[0], 16000)
                assert before == pytest.approx(record["measured"], abs=1e-3)
    assert all("loudness" not in (c.custom or {}) for c in plain.values())  # off by default
    config = parse_data_config({"loudness": -20, "corpora": {"a": {"language": "en", "train": ["t"], "dev": ["d"]}}})
    assert config.loudness == -20.0
    with pytest.raises(ValueError, match="LUFS"):
        parse_data_config({"loudness": 5, "corpora": {"a": {"language": "en", "train": ["t"], "dev": ["d"]}}})


def test_text_faults_are_reported_with_file_and_line(small_corpus, small_cuts):
    """A Latin-1 byte, an id without text and a control character in a transcript (AISHELL's and LibriSpeech's)
    are bad input named by file and line; stage 1 went on with every other line."""
    import re

    rows = [
        r
        for r in read_report(small_cuts / "bad_input.tsv")
        if r.reason in ("undecodable text", "control characters", "empty transcript")
    ]
    assert {(r.source.split(":")[0], r.reason) for r in rows} == {
        (corpus, reason)
        for corpus in ("aishell", "librispeech")
        for reason in ("undecodable text", "control characters", "empty transcript")
    }
    for row in rows:
        match = re.match(r"(\S+\.txt) line (\d+): ", row.detail)
        assert match, row.detail
        line = Path(match.group(1)).read_bytes().split(b"\n")[int(match.group(2)) - 1]
        assert line.startswith(row.id.encode()), (row, line)
    latin1 = next(r for r in rows if r.reason == "undecodable text" and r.source.startswith("librispeech"))
    assert "byte 0xE9" in latin1.detail and latin1.detail.split(" line ")[0].endswith(".trans.txt")
