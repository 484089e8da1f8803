"""The decode directory (fcodec.infer.decode / fcodec.bin.decode): contents, tokens through lhotse, bad input,
batching and streaming invariance, resume after a kill, reruns."""

import json
import math
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet

from fcodec.bin import decode as decode_cli
from fcodec.infer import decode_batch as batch_mod
from fcodec.infer import runtime as runtime_mod
from fcodec.infer.batched import encode_decode
from fcodec.infer.decode import DecodeOptions, decode_cuts
from fcodec.infer.decode_journal import CODEC_ERROR
from fcodec.infer.tokens import TOKENS_FIELD, load_tokens
from fcodec.layout import decode_format
from fcodec.layout.experiment import JOURNAL
from tests.infer.conftest import LENGTHS

QUIET = dict(progress=False)


def run(model, cuts, out, name="m", **options):
    return decode_cuts(model, cuts, out, name, DecodeOptions(**{**QUIET, **options}))


def tokens_by_id(out):
    return {c.id: load_tokens(c) for c in CutSet.from_file(out / decode_format.TOKEN_CUTS)}


def audio_by_id(out):
    return {c.id: c.load_audio()[0] for c in CutSet.from_file(out / decode_format.RECON_CUTS)}


@pytest.fixture(scope="module")
def offline_dir(codecs, test_cuts, tmp_path_factory):
    out = tmp_path_factory.mktemp("dec") / "test_set"
    run(codecs["50hz"], test_cuts, out, max_duration=3.0)  # several batches of different sizes
    return out


def test_decode_dir_contract(offline_dir, test_cuts, codecs):
    model = codecs["50hz"]
    test = CutSet.from_file(test_cuts)
    decoded = decode_format.read_decode_dir(offline_dir)
    assert set(decoded.recon_cuts) == set(test.ids) and decoded.failed == {}
    recon_order = [c.id for c in CutSet.from_file(offline_dir / decode_format.RECON_CUTS)]
    assert recon_order == list(test.ids)  # the test set's order, whatever the batching order was
    for cut in test:
        recon = decoded.recon_cuts[cut.id]
        assert recon.sampling_rate == 24000
        assert recon.num_samples == cut.num_samples * 3 // 2  # model.output_length
        assert [s.text for s in recon.supervisions] == [s.text for s in cut.supervisions]
        assert [s.language for s in recon.supervisions] == [s.language for s in cut.supervisions]
        wav = offline_dir / "wav" / f"{cut.id}.wav"
        assert sf.info(str(wav)).samplerate == 24000
    summary = json.loads((offline_dir / "summary.json").read_text())
    assert set(decode_format.SUMMARY_KEYS) <= set(summary)
    assert summary["frame_rate"] == 50.0 and summary["bitrate"] == 550.0
    assert summary["num_cuts"] == len(LENGTHS) and summary["num_failed"] == 0
    expected_tokens = sum(math.ceil(n / 320) for n in LENGTHS)
    assert summary["num_tokens"] == expected_tokens
    assert summary["tokens_per_second"] == pytest.approx(expected_tokens / (sum(LENGTHS) / 16000))
    assert 0 < summary["real_time_factor"] < 10
    assert (offline_dir / ".done").is_file()
    assert (offline_dir / "failed.tsv").read_text() == "cut_id\treason\n"
    del model


def test_tokens_round_trip_through_lhotse(offline_dir, test_cuts, codecs):
    """token_cuts.jsonl.gz read back with plain lhotse gives the tokens the codec emits for the cut's audio."""
    model = codecs["50hz"]
    test = CutSet.from_file(test_cuts)
    token_cuts = CutSet.from_file(offline_dir / decode_format.TOKEN_CUTS)
    assert list(token_cuts.ids) == list(test.ids)
    for cut, ref in zip(token_cuts, test):
        (expected,) = encode_decode(model, [torch.from_numpy(ref.load_audio()[0])])
        stored = cut.codec_tokens.load()  # lhotse's TemporalArray: every token
        assert stored.dtype == np.int16
        assert np.array_equal(stored.astype(np.int64), expected.tokens.numpy())
        assert np.array_equal(load_tokens(cut), expected.tokens.numpy())
        # lhotse's own view through the cut: round(duration / frame_shift) frames, a prefix of the tokens
        aligned = cut.load_custom(TOKENS_FIELD)
        assert len(aligned) == int(math.floor(cut.duration * 50 + 0.5))
        assert np.array_equal(aligned, stored[: len(aligned)])
        assert cut.codec_tokens.frame_shift == pytest.approx(0.02)
        # the test cut is otherwise unchanged
        assert cut.recording.id == ref.recording.id and cut.supervisions == ref.supervisions
    # lhotse carries the tokens along when a cut is truncated
    first = token_cuts[0]
    half = first.truncate(offset=0.4, duration=0.2)
    assert np.array_equal(half.load_custom(TOKENS_FIELD), first.codec_tokens.load()[20:30])


@pytest.mark.parametrize("name", ["50hz", "12hz"])
def test_batched_dir_equals_one_at_a_time_dir(codecs, test_cuts, tmp_path, name):
    batched = tmp_path / "batched"
    single = tmp_path / "single"
    run(codecs[name], test_cuts, batched, max_duration=1000)
    run(codecs[name], test_cuts, single, max_batch_size=1)
    assert json.loads((batched / "summary.json").read_text())["num_failed"] == 0
    t1, t2 = tokens_by_id(batched), tokens_by_id(single)
    a1, a2 = audio_by_id(batched), audio_by_id(single)
    assert t1.keys() == t2.keys() == a1.keys() == a2.keys()
    for cut_id in t1:
        assert np.array_equal(t1[cut_id], t2[cut_id])
        np.testing.assert_allclose(a1[cut_id], a2[cut_id], rtol=0, atol=1e-5)


def test_a_decode_repeated_writes_the_same_bytes(codecs, test_cuts, offline_dir, tmp_path):
    # the recipe tells a new decode from a repeated one by the bytes of its files (utils/common.sh content_hash)
    # (at least a second later: libsndfile's WAV writer stamped the time of writing into every file)
    written = max(p.stat().st_mtime for p in (offline_dir / "wav").iterdir())
    time.sleep(max(0.0, written + 1.1 - time.time()))
    again = tmp_path / "again"
    run(codecs["50hz"], test_cuts, again, max_duration=3.0)
    for folder in ("wav", "tokens"):
        first = {p.relative_to(offline_dir): p.read_bytes() for p in (offline_dir / folder).rglob("*") if p.is_file()}
        second = {p.relative_to(again): p.read_bytes() for p in (again / folder).rglob("*") if p.is_file()}
        assert first and first == second, folder


def test_streaming_tokens_equal_offline(codecs, test_cuts, offline_dir, tmp_path):
    out = tmp_path / "streamed"
    summary = run(codecs["50hz"], test_cuts, out, streaming=True)
    assert summary["streaming"] is True and summary["num_failed"] == 0
    offline, streamed = tokens_by_id(offline_dir), tokens_by_id(out)
    assert offline.keys() == streamed.keys()
    for cut_id in offline:
        assert np.array_equal(offline[cut_id], streamed[cut_id])
    a1, a2 = audio_by_id(offline_dir), audio_by_id(out)
    for cut_id in a1:
        np.testing.assert_allclose(a1[cut_id], a2[cut_id], rtol=0, atol=1e-4)


def test_streaming_needs_a_causal_codec(codecs, test_cuts, tmp_path):
    with pytest.raises(ValueError, match="causal"):
        run(codecs["noncausal"], test_cuts, tmp_path / "x", streaming=True)


def test_noncausal_codec_decodes_one_cut_per_call(codecs, test_cuts, tmp_path):
    out = tmp_path / "nc"
    summary = run(codecs["noncausal"], test_cuts, out)
    assert summary["num_failed"] == 0 and summary["batched"] is False
    for cut in CutSet.from_file(out / decode_format.RECON_CUTS):
        assert cut.sampling_rate == codecs["noncausal"].sample_rate_output


def test_bad_input_is_listed_with_its_reason(codecs, bad_test_cuts, tmp_path):
    out = tmp_path / "bad"
    summary = run(codecs["50hz"], bad_test_cuts, out, streaming=True)
    failed = decode_format.read_failed_tsv(out / "failed.tsv")
    assert set(failed) == {"en_nan", "zh_short", "en_gone", "zh_corrupt", "zh_empty"}
    assert failed["zh_corrupt"].startswith("unreadable") and "corrupt.wav" in failed["zh_corrupt"]
    assert failed["en_nan"].startswith("not finite")
    assert failed["zh_short"].startswith("too short") and "1280" in failed["zh_short"]
    assert failed["en_gone"].startswith("missing") and "gone.wav" in failed["en_gone"]
    assert failed["zh_empty"].startswith("empty: ") and failed["zh_empty"].endswith(".wav: 0 samples")
    assert summary["num_cuts"] == 8 and summary["num_failed"] == 5
    decoded = decode_format.read_decode_dir(out)
    assert set(decoded.recon_cuts) == {"en_utt00", "zh_utt01", "en_utt02"}
    assert set(CutSet.from_file(out / decode_format.TOKEN_CUTS).ids) == set(decoded.recon_cuts)
    # offline, a 50 ms cut is decoded (completed with zeros to one chunk); the others still fail
    offline = tmp_path / "bad_offline"
    run(codecs["50hz"], bad_test_cuts, offline)
    assert set(decode_format.read_failed_tsv(offline / "failed.tsv")) == {"en_nan", "en_gone", "zh_corrupt", "zh_empty"}
    assert decode_format.read_decode_dir(offline).recon_cuts["zh_short"].num_samples == 1200


def test_codec_failure_of_one_cut_spares_its_batch(codecs, test_cuts, tmp_path, monkeypatch):
    """A batch that raises is redone cut by cut: only the cut that fails alone is listed."""
    real = batch_mod.encode_decode
    bad_length = LENGTHS[2]

    def flaky(model, signals, streaming=False):
        if any(s.shape[-1] == bad_length for s in signals):
            raise RuntimeError("simulated out of memory")
        return real(model, signals, streaming=streaming)

    monkeypatch.setattr(batch_mod, "encode_decode", flaky)
    out = tmp_path / "flaky"
    summary = run(codecs["50hz"], test_cuts, out, max_duration=1000)
    failed = decode_format.read_failed_tsv(out / "failed.tsv")
    assert list(failed) == ["en_utt02"] and "simulated out of memory" in failed["en_utt02"]
    assert summary["num_failed"] == 1
    assert len(decode_format.read_decode_dir(out).recon_cuts) == len(LENGTHS) - 1


def test_a_decode_that_failed_everything_is_not_done_and_codec_failures_are_retried(
    codecs, test_cuts, tmp_path, monkeypatch
):
    real = batch_mod.encode_decode
    broken = {"on": True}

    def failing(model, signals, streaming=False):
        if broken["on"]:
            raise RuntimeError("simulated broken kernel")
        return real(model, signals, streaming=streaming)

    monkeypatch.setattr(batch_mod, "encode_decode", failing)
    out = tmp_path / "failing"
    summary = run(codecs["50hz"], test_cuts, out, max_duration=1000)
    assert summary["num_failed"] == summary["num_cuts"] == len(LENGTHS)
    assert not (out / decode_format.DONE).exists()  # a marker means success
    broken["on"] = False  # the cause fixed: the rerun decodes them all
    assert run(codecs["50hz"], test_cuts, out, max_duration=1000)["num_failed"] == 0
    assert (out / decode_format.DONE).is_file()
    # a finished decode with a transient codec failure tries that cut again on the next run
    journal = (out / JOURNAL).read_text(encoding="utf-8").splitlines()
    first = json.loads(journal[1])
    failed = {"cut_id": first["cut_id"], "status": "failed", "reason": f"{CODEC_ERROR}: MemoryError"}
    (out / JOURNAL).write_text("\n".join([*journal, json.dumps(failed)]) + "\n", encoding="utf-8")
    assert run(codecs["50hz"], test_cuts, out, max_duration=1000)["num_failed"] == 0


def test_resume_after_a_kill(codecs, test_cuts, offline_dir, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    model = codecs["50hz"]
    real_run = batch_mod.BatchDecoder.run
    calls = {"n": 0, "cuts": []}

    def killed_after_two_batches(self, cuts):
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as a kill between two batches
        calls["n"] += 1
        calls["cuts"] += [c.id for c in cuts]
        return real_run(self, cuts)

    monkeypatch.setattr(batch_mod.BatchDecoder, "run", killed_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        run(model, test_cuts, out, max_duration=3.0)
    first = list(calls["cuts"])
    assert 0 < len(first) < len(LENGTHS)
    assert not (out / ".done").exists() and not (out / "recon_cuts.jsonl.gz").exists()
    # a kill while writing the journal leaves half a line: it is ignored
    with open(out / JOURNAL, "a") as f:
        f.write('{"cut_id": "zh_utt05", "stat')
    monkeypatch.setattr(batch_mod.BatchDecoder, "run", real_run)
    seen = []

    def counting(self, cuts):
        seen.extend(c.id for c in cuts)
        return real_run(self, cuts)

    monkeypatch.setattr(batch_mod.BatchDecoder, "run", counting)
    summary = run(model, test_cuts, out, max_duration=3.0)
    assert sorted(seen) == sorted(set(CutSet.from_file(test_cuts).ids) - set(first))
    assert summary["num_cuts"] == len(LENGTHS) and summary["num_failed"] == 0
    assert summary["num_tokens"] == json.loads((offline_dir / "summary.json").read_text())["num_tokens"]
    resumed, clean = tokens_by_id(out), tokens_by_id(offline_dir)
    assert resumed.keys() == clean.keys()
    for cut_id in clean:
        assert np.array_equal(resumed[cut_id], clean[cut_id])
    # a finished directory is left alone
    seen.clear()
    mtime = (out / "recon_cuts.jsonl.gz").stat().st_mtime_ns
    again = run(model, test_cuts, out, max_duration=3.0)
    assert seen == [] and again["num_tokens"] == summary["num_tokens"]
    assert (out / "recon_cuts.jsonl.gz").stat().st_mtime_ns == mtime


def test_other_settings_do_not_mix_with_a_finished_run(codecs, test_cuts, offline_dir, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(offline_dir, out)
    with pytest.raises(RuntimeError, match="other settings"):
        run(codecs["50hz"], test_cuts, out, streaming=True)
    with pytest.raises(RuntimeError, match="other settings"):
        run(codecs["12hz"], test_cuts, out, name="another-model")
    summary = decode_cuts(
        codecs["50hz"], test_cuts, out, "m", DecodeOptions(streaming=True, **QUIET), restart_on_change=True
    )
    assert summary["streaming"] is True
    assert json.loads((out / JOURNAL).read_text().splitlines()[0])["header"]["streaming"] is True
    summary = decode_cuts(codecs["50hz"], test_cuts, out, "m", DecodeOptions(**QUIET), overwrite=True)
    assert summary["streaming"] is False


def test_cli_decodes_every_test_set_with_every_model(codec_dirs, test_cuts, bad_test_cuts, tmp_path, capsys):
    out50, out12 = tmp_path / "train_50hz" / "decode", tmp_path / "train_12.5hz" / "decode"
    status = decode_cli.main(
        [
            "--model",
            str(codec_dirs["50hz"]),
            str(codec_dirs["12hz"]),
            "--cuts",
            str(test_cuts),
            str(bad_test_cuts.parent / "bad_set.jsonl.gz"),
            "--out-dir",
            str(out50),
            str(out12),
            "--no-progress",
        ]
    )
    assert status == 1  # the second cut set does not exist
    assert "not found" in capsys.readouterr().err
    bad_copy = bad_test_cuts.parent / "bad_set.jsonl.gz"
    bad_copy.write_bytes(bad_test_cuts.read_bytes())
    status = decode_cli.main(
        [
            "--model",
            str(codec_dirs["50hz"]),
            str(codec_dirs["12hz"]),
            "--cuts",
            str(test_cuts),
            str(bad_copy),
            "--out-dir",
            str(out50),
            str(out12),
            "--no-progress",
            "--num-threads",
            "1",
        ]
    )
    assert status == 0
    for out, rate in ((out50, 50.0), (out12, 12.5)):
        for name, failed in (("test_set", 0), ("bad_set", 4)):
            summary = json.loads((out / name / "summary.json").read_text())
            assert summary["frame_rate"] == rate and summary["num_failed"] == failed
            assert summary["num_threads"] == 1 and "fcodec.bin.decode" in summary["command"]
            assert summary["model"] == str(codec_dirs["50hz" if rate == 50.0 else "12hz"])
            assert (out / name / ".done").is_file()
    assert decode_cli.main(["--model", "a", "b", "--cuts", str(test_cuts), "--out-dir", "x"]) == 2
    assert (
        decode_cli.main(
            [
                "--model",
                str(tmp_path / "nothing"),
                "--cuts",
                str(test_cuts),
                "--out-dir",
                str(tmp_path / "y"),
                "--no-progress",
            ]
        )
        == 1
    )
    assert "cannot load the codec" in capsys.readouterr().err


def test_cli_fails_when_every_cut_fails(codec_dirs, tmp_path):
    from tests.infer.conftest import write_cuts

    cuts = write_cuts(tmp_path / "c", [], bad=True)
    status = decode_cli.main(
        [
            "--model",
            str(codec_dirs["50hz"]),
            "--cuts",
            str(cuts),
            "--out-dir",
            str(tmp_path / "out"),
            "--no-progress",
            "--streaming",
        ]
    )
    assert status == 1
    assert len(decode_format.read_failed_tsv(tmp_path / "out" / "test_set" / "failed.tsv")) == 5


def test_thread_default_and_test_set_names(monkeypatch):
    from fcodec.infer.runtime import resolve_num_threads
    from fcodec.layout.experiment import test_set_name

    assert runtime_mod.available_cores() >= 1
    monkeypatch.setattr(runtime_mod, "available_cores", lambda: 2)
    assert resolve_num_threads(0, "cpu") == 1 and resolve_num_threads(0, "cuda:0") == 1
    monkeypatch.setattr(runtime_mod, "available_cores", lambda: 16)
    assert resolve_num_threads(0, "cpu") == 8 and resolve_num_threads(3, "cpu") == 3
    assert test_set_name("data/cuts/test_aishell.jsonl.gz") == "test_aishell"
    assert test_set_name("x/test_librispeech.jsonl") == "test_librispeech"
