"""Synthesise the mini bilingual corpus in the real AISHELL-1 and LibriSpeech layouts.

    <out>/aishell/data_aishell/wav/{train,dev,test}/S0002/BAC009S0002W0121.wav      16 kHz 16-bit WAV
    <out>/aishell/data_aishell/transcript/aishell_transcript_v0.8.txt                 word-segmented Chinese
    <out>/LibriSpeech/{train-clean-100,dev-clean,test-clean}/19/198/19-198-0000.flac  16 kHz FLAC
    <out>/LibriSpeech/<part>/19/198/19-198.trans.txt                                  upper-case English
    <out>/mini_corpus_broken.tsv                       the deliberately broken utterances and why they are bad

Speakers are eSpeak NG voice variants (``cmn+f2``, ``en-us+m3``) with their own speaking rate and pitch; dev
and test speakers differ from training ones, as in the real corpora. Everything follows from ``seed``.

A few utterances are broken on purpose, so the bad-input path of stages 1 and 2 runs every time: audio that
is not audio, a header without samples, a clip too short to keep, NaN samples, an empty transcript, a
transcript line whose audio is missing, audio without a transcript line, a transcript line that is not UTF-8
(a Latin-1 byte) and one holding a control character.
"""

from __future__ import annotations

import os
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np
import soundfile as sf
from scipy.io import wavfile
from scipy.signal import resample_poly

from fcodec.data import audio_check as why
from fcodec.data.bad_input import BadInput, write_report
from fcodec.data.synth.sentences import make_sentences

SAMPLE_RATE = 16000
BROKEN_REPORT = "mini_corpus_broken.tsv"

# eSpeak NG voice variants that serve as speakers; the order fixes who is in train, dev and test.
_VARIANTS = ["m1", "f1", "m3", "f2", "m2", "f3", "m4", "f4", "m7", "f5", "m6", "m8"]
_AISHELL_PARTS = {"train": 2, "dev": 724, "test": 764}  # first speaker number of each part, as in AISHELL-1
_LIBRISPEECH_PARTS = {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}
_LIBRISPEECH_SPEAKERS = {
    "train": [19, 26, 27, 32, 39, 40, 60, 78],
    "dev": [84, 174, 251, 422],
    "test": [61, 121, 237, 260],
}


@dataclass(frozen=True)
class MiniCorpusSpec:
    seed: int = 0
    train_speakers: int = 6  # per language
    eval_speakers: int = 2  # per language, in dev and in test each
    train_utts_per_speaker: int = 16
    eval_utts_per_speaker: int = 6

    def speakers(self, split: str) -> int:
        return self.train_speakers if split == "train" else self.eval_speakers

    def utts_per_speaker(self, split: str) -> int:
        return self.train_utts_per_speaker if split == "train" else self.eval_utts_per_speaker

    def validate(self) -> None:
        if self.train_speakers > len(_LIBRISPEECH_SPEAKERS["train"]) or self.eval_speakers > 4:
            raise ValueError("the mini corpus has at most 8 training and 4 dev/test speakers per language")
        if self.train_speakers + 2 * self.eval_speakers > len(_VARIANTS):
            raise ValueError(f"only {len(_VARIANTS)} voice variants: fewer speakers, please")
        if min(self.train_speakers, self.eval_speakers, self.train_utts_per_speaker, self.eval_utts_per_speaker) < 1:
            raise ValueError("every speaker and utterance count must be at least 1")


@dataclass(frozen=True)
class Voice:
    name: str  # eSpeak voice, e.g. cmn+f2
    rate: int
    pitch: int
    gain: float


@dataclass(frozen=True)
class Utterance:
    language: str
    split: str
    uid: str
    path: str  # relative to the corpus root
    text: str
    voice: Voice


def _voices(language: str, rng: random.Random, spec: MiniCorpusSpec) -> Dict[str, List[Voice]]:
    base = "cmn" if language == "zh" else "en-us"
    variants = iter(_VARIANTS)
    out = {}
    for split in ("train", "dev", "test"):
        out[split] = [
            Voice(
                f"{base}+{next(variants)}",
                rate=rng.randint(150, 195),
                pitch=rng.randint(35, 70),
                gain=round(rng.uniform(0.3, 0.6), 3),
            )
            for _ in range(spec.speakers(split))
        ]
    return out


def plan_corpus(spec: MiniCorpusSpec) -> List[Utterance]:
    """Every good utterance of the corpus: who says what, and where it is written."""
    spec.validate()
    plan: List[Utterance] = []
    for language in ("zh", "en"):
        rng = random.Random(f"mini-{language}-{spec.seed}")
        voices = _voices(language, rng, spec)
        total = sum(spec.speakers(s) * spec.utts_per_speaker(s) for s in ("train", "dev", "test"))
        sentences = iter(make_sentences(language, total, seed=spec.seed))
        for split in ("train", "dev", "test"):
            for k, voice in enumerate(voices[split]):
                for n in range(spec.utts_per_speaker(split)):
                    uid, path = _location(language, split, k, n, seed=spec.seed)
                    plan.append(Utterance(language, split, uid, path, next(sentences), voice))
    return plan


def _location(language: str, split: str, speaker: int, n: int, seed: int) -> Tuple[str, str]:
    """The utterance id and file of the n-th utterance of a speaker, named as the real corpus names them."""
    if language == "zh":
        spk = f"S{_AISHELL_PARTS[split] + speaker:04d}"
        uid = f"BAC009{spk}W{121 + n:04d}"
        return uid, f"aishell/data_aishell/wav/{split}/{spk}/{uid}.wav"
    spk = _LIBRISPEECH_SPEAKERS[split][speaker]
    chapter = 1000 + 37 * spk + seed  # a LibriSpeech-like chapter number, one per speaker
    uid = f"{spk}-{chapter}-{n:04d}"
    return uid, f"LibriSpeech/{_LIBRISPEECH_PARTS[split]}/{spk}/{chapter}/{uid}.flac"


def render(text: str, voice: Voice, noise_seed: int) -> np.ndarray:
    """Speak ``text`` and return float32 samples at 16 kHz, peak-normalised to the voice's gain."""
    from fcodec.data.synth.espeak import synthesize

    pcm, rate = synthesize(text, voice.name, rate=voice.rate, pitch=voice.pitch, seed=noise_seed)
    audio = pcm.astype(np.float32) / 32768.0
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)
    peak = float(np.abs(audio).max()) or 1.0
    audio = audio * (voice.gain / peak)
    # A faint noise floor, so pauses are not digital silence (as in real recordings).
    audio += np.random.default_rng(noise_seed).normal(0.0, 3e-4, audio.shape).astype(np.float32)
    return np.clip(audio, -1.0, 1.0)


def _write_good(args: Tuple[str, Utterance, int]) -> float:
    root, utt, index = args
    audio = render(utt.text, utt.voice, noise_seed=index)
    path = Path(root) / utt.path
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC" if path.suffix == ".flac" else "WAV")
    return len(audio) / SAMPLE_RATE


def _transcript_lines(plan: List[Utterance], language: str) -> Dict[str, List[str]]:
    """AISHELL: one transcript file; LibriSpeech: one ``<spk>-<chapter>.trans.txt`` per chapter folder."""
    files: Dict[str, List[str]] = {}
    for utt in plan:
        if utt.language != language:
            continue
        if language == "zh":
            key = "aishell/data_aishell/transcript/aishell_transcript_v0.8.txt"
        else:
            folder = os.path.dirname(utt.path)
            key = f"{folder}/{utt.uid.rsplit('-', 1)[0]}.trans.txt"
        files.setdefault(key, []).append(f"{utt.uid} {utt.text}".rstrip())
    return files


def _add_broken(
    root: Path, plan: List[Utterance], transcripts: Dict[str, Dict[str, List[Union[str, bytes]]]]
) -> List[BadInput]:
    """Write the deliberately broken utterances and return what the bad-input report must say about them."""
    broken: List[BadInput] = []
    rng = np.random.default_rng(1234)
    first = {(u.language, u.split): u for u in reversed(plan)}  # first utterance of each language and split

    def sibling(utt: Utterance, number: int) -> Tuple[str, Path]:
        if utt.language == "zh":
            uid = utt.uid[:-4] + f"{number:04d}"
        else:
            uid = utt.uid.rsplit("-", 1)[0] + f"-{number:04d}"
        return uid, root / os.path.dirname(utt.path) / (uid + Path(utt.path).suffix)

    def transcript_of(utt: Utterance) -> List[str]:
        lines = _transcript_lines([utt], utt.language)
        key = next(iter(lines))
        return transcripts[utt.language][key]

    def report(utt: Utterance, uid: str, path: Path, reason: str) -> None:
        corpus = "aishell" if utt.language == "zh" else "librispeech"
        part = utt.split if utt.language == "zh" else _LIBRISPEECH_PARTS[utt.split]
        broken.append(BadInput(uid, f"{corpus}:{part}", str(path.relative_to(root)), reason))

    speech_of = {
        "zh": render("你好 欢迎 光临", Voice("cmn+m1", 170, 50, 0.5), noise_seed=0),
        "en": render("HELLO THERE HOW ARE YOU", Voice("en-us+m1", 170, 50, 0.5), noise_seed=0),
    }
    cases = {
        ("zh", "train"): [
            why.UNREADABLE,
            why.EMPTY,
            why.TOO_SHORT,
            why.NOT_FINITE,
            why.EMPTY_TRANSCRIPT,
            why.MISSING,
            why.NO_TRANSCRIPT,
            why.CONTROL_CHARACTERS,
            why.UNDECODABLE_TEXT,
        ],
        ("zh", "test"): [why.NOT_FINITE],
        ("en", "train"): [
            why.UNREADABLE,
            why.MISSING,
            why.EMPTY_TRANSCRIPT,
            why.TOO_SHORT,
            why.NO_TRANSCRIPT,
            why.UNDECODABLE_TEXT,
            why.CONTROL_CHARACTERS,
        ],
        ("en", "test"): [why.UNREADABLE],
    }
    for (language, split), reasons in cases.items():
        utt = first[(language, split)]
        speech = speech_of[language]
        for number, reason in enumerate(reasons, start=901):
            uid, path = sibling(utt, number)
            fmt = "FLAC" if path.suffix == ".flac" else "WAV"
            line = f"{uid} {utt.text}"
            if reason == why.UNREADABLE:
                path.write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
            elif reason == why.EMPTY:  # a valid WAV header with no samples (FLAC cannot hold zero samples)
                sf.write(path, np.zeros(0, np.float32), SAMPLE_RATE, subtype="PCM_16", format="WAV")
            elif reason == why.TOO_SHORT:
                sf.write(path, speech[: SAMPLE_RATE // 8], SAMPLE_RATE, subtype="PCM_16", format=fmt)
            elif reason == why.NOT_FINITE:  # 32-bit float WAV, as some tools write; a NaN burst inside
                bad = speech.copy()
                bad[len(bad) // 3 : len(bad) // 3 + 160] = np.nan
                # scipy, not libsndfile: libsndfile's float WAV has a PEAK chunk with the time of writing.
                wavfile.write(path, SAMPLE_RATE, bad.astype(np.float32))
            elif reason == why.EMPTY_TRANSCRIPT:
                sf.write(path, speech, SAMPLE_RATE, subtype="PCM_16", format=fmt)
                line = uid
            elif reason == why.MISSING:
                pass  # the transcript names it; the file is never written
            elif reason == why.NO_TRANSCRIPT:
                sf.write(path, speech, SAMPLE_RATE, subtype="PCM_16", format=fmt)
                line = ""
            elif reason == why.UNDECODABLE_TEXT:  # good audio, a line in Latin-1 (CAFÉ as the byte 0xE9)
                sf.write(path, speech, SAMPLE_RATE, subtype="PCM_16", format=fmt)
                line = f"{uid} {utt.text} CAF".encode("utf-8") + b"\xe9"
            elif reason == why.CONTROL_CHARACTERS:  # good audio, a BEL character pasted into the text
                sf.write(path, speech, SAMPLE_RATE, subtype="PCM_16", format=fmt)
                line = f"{uid} {utt.text}\x07{utt.text}"
            if line:
                transcript_of(utt).append(line)
            report(utt, uid, path, reason)
    return broken


def build_mini_corpus(out_dir: os.PathLike, spec: MiniCorpusSpec = MiniCorpusSpec(), num_workers: int = 1) -> Dict:
    """Write the corpus under ``out_dir`` (replacing ``aishell/`` and ``LibriSpeech/`` there) and return a summary.

    Everything is written into a temporary folder first and moved into place at the end, so an interrupted run
    leaves no half corpus behind.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".mini_corpus.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    plan = plan_corpus(spec)
    jobs = [(str(tmp), utt, i) for i, utt in enumerate(plan)]
    if num_workers > 1:
        with ProcessPoolExecutor(num_workers) as pool:
            durations = list(pool.map(_write_good, jobs, chunksize=8))
    else:
        durations = [_write_good(job) for job in jobs]

    transcripts = {lang: _transcript_lines(plan, lang) for lang in ("zh", "en")}
    broken = _add_broken(tmp, plan, transcripts)
    for files in transcripts.values():
        for rel, lines in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            # bytes, since a broken line is not UTF-8; UTF-8 sorts like the text it encodes
            encoded = [line if isinstance(line, bytes) else line.encode("utf-8") for line in lines]
            path.write_bytes(b"\n".join(sorted(encoded)) + b"\n")
    write_report(tmp / BROKEN_REPORT, broken)

    for name in ("aishell", "LibriSpeech", BROKEN_REPORT):
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(tmp / name, target)
    shutil.rmtree(tmp)

    summary: Dict = {"spec": asdict(spec), "broken": len(broken)}
    for language in ("zh", "en"):
        for split in ("train", "dev", "test"):
            durs = [d for d, u in zip(durations, plan) if u.language == language and u.split == split]
            summary[f"{language}_{split}"] = {"utts": len(durs), "seconds": round(sum(durs), 2)}
    return summary
