"""What int8 inference costs in quality: the same cuts decoded in fp32 and in int8, scored by the project's tools.

    PYTHONPATH=$PWD python tools/benchmarks/int8_cost.py --codec exp/models/focalcodec_50hz_2k_causal \\
        --judge ../shared/models/whisper-base.pt --out exp/int8_cost           # the clips of ../shared/audio
    PYTHONPATH=$PWD python tools/benchmarks/int8_cost.py --codec exp/models/focalcodec_50hz_2k_causal \\
        --judge small --cuts data/cuts/test_librispeech.jsonl.gz --out exp/int8_cost --streaming

Runs ``python -m fcodec.bin.decode`` twice (without and with ``--quantize int8``) and ``python -m fcodec.bin.score``
on both decodes, then prints, per language, the fp32 and int8 figures and their difference (dWER / dCER
against the originals' transcripts, the signal metrics, MOS when the scorer has a MOS model), and the token
agreement of the two decodes. Both decodes resume like any decode; rerunning reuses what is done.

Without ``--cuts``, every wav under ``--audio-dir`` (default ../shared/audio) becomes a 16 kHz test cut; its
language is taken from ``--languages`` (folder name prefix -> language; default: magicdata -> zh, else en), and
its reference text is the judge's transcript of the original: the clips come without transcripts, and dWER /
dCER compare with the original's transcript anyway (the WER columns against that "truth" equal the dWER).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

VARIANTS = {"fp32": [], "int8": ["--quantize", "int8"]}


def parse_languages(text: str) -> Dict[str, str]:
    pairs = [item.split("=", 1) for item in text.split()]
    if not pairs or any(len(pair) != 2 for pair in pairs):
        raise SystemExit(f"int8_cost: --languages wants 'prefix=lang ...' pairs, got {text!r}")
    return dict(pairs)


def cuts_from_audio(
    audio_dir: Path, judge: str, languages: Dict[str, str], default_language: str, out: Path, max_files: int
) -> Path:
    """A test CutSet of the wavs under ``audio_dir`` (16 kHz copies), text = the judge's transcripts."""
    import soundfile as sf
    from lhotse import CutSet, Recording, SupervisionSegment

    from fcodec.data.audio import read_mono
    from fcodec.metrics.transcribe import WhisperJudge
    from fcodec.utils.io import atomic_write

    target = out / "cuts" / "shared_audio.jsonl.gz"
    if target.is_file():
        return target
    paths = sorted(audio_dir.rglob("*.wav"))[:max_files]
    if not paths:
        raise SystemExit(f"int8_cost: no .wav files under {audio_dir}")
    wav_dir = out / "cuts" / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    audios, langs, recordings = [], [], []
    for path in paths:
        audio = read_mono(path, 16000)
        top = path.relative_to(audio_dir).parts[0]
        langs.append(next((lang for prefix, lang in languages.items() if top.startswith(prefix)), default_language))
        copy = wav_dir / f"{path.stem}.wav"
        sf.write(str(copy), audio, 16000, subtype="FLOAT")
        audios.append(audio)
        recordings.append(Recording.from_file(copy, recording_id=path.stem))
    texts = WhisperJudge(judge).transcribe(audios, langs)
    cuts = []
    for recording, text, lang in zip(recordings, texts, langs):
        cut = recording.to_cut()
        cut.supervisions = [
            SupervisionSegment(
                id=cut.id, recording_id=recording.id, start=0.0, duration=recording.duration, text=text, language=lang
            )
        ]
        cuts.append(cut)
    atomic_write(target, lambda tmp: CutSet.from_cuts(cuts).to_file(tmp))
    return target


def run(command: List[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def token_agreement(decode_dirs: Sequence[Path]) -> float:
    """Fraction of equal tokens between two decodes (cuts decoded by both)."""
    import numpy as np

    first, second = (sorted((d / "tokens").rglob("*.npy")) for d in decode_dirs)
    names = {p.relative_to(decode_dirs[0]) for p in first} & {p.relative_to(decode_dirs[1]) for p in second}
    same = total = 0
    for name in sorted(names):
        a, b = np.load(decode_dirs[0] / name), np.load(decode_dirs[1] / name)
        same += int((a == b).sum())
        total += a.size
    return same / total if total else float("nan")


def flatten(prefix: str, value, out: Dict[str, float]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = float(value)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", required=True, help="codec folder, config path or repo id (fp32 weights)")
    parser.add_argument("--judge", required=True, help="Whisper judge: a published name or a checkpoint file")
    parser.add_argument("--out", type=Path, required=True, help="working folder (cuts, decodes, scores)")
    parser.add_argument(
        "--cuts",
        type=Path,
        default=None,
        help="a test CutSet with text and language (default: the wavs of --audio-dir)",
    )
    parser.add_argument("--audio-dir", type=Path, default=REPO.parent / "shared" / "audio")
    parser.add_argument(
        "--languages", default="magicdata=zh", help="folder prefix -> language for --audio-dir (default: %(default)s)"
    )
    parser.add_argument("--default-language", default="en")
    parser.add_argument("--max-files", type=int, default=1000)
    parser.add_argument("--streaming", action="store_true", help="decode chunk by chunk (causal codecs)")
    parser.add_argument("--mos-model", default=None, help="passed to fcodec.bin.score")
    parser.add_argument("--num-threads", type=int, default=0, help="passed to fcodec.bin.decode")
    args = parser.parse_args(argv)

    out = args.out.absolute()
    cuts = args.cuts or cuts_from_audio(
        args.audio_dir, args.judge, parse_languages(args.languages), args.default_language, out, args.max_files
    )
    from fcodec.layout import experiment as layout

    test_set = layout.test_set_name(cuts)
    python = [sys.executable, "-m"]
    summaries = {}
    for variant, options in VARIANTS.items():
        decode_root = layout.decode_dir(out, variant, test_set).parent
        run(
            python
            + [
                "fcodec.bin.decode",
                "--model",
                args.codec,
                "--cuts",
                str(cuts),
                "--out-dir",
                str(decode_root),
                "--num-threads",
                str(args.num_threads),
                "--no-progress",
            ]
            + (["--streaming"] if args.streaming else [])
            + options
        )
        score_dir = layout.score_root(out, variant)
        run(
            python
            + [
                "fcodec.bin.score",
                "--ref-cuts",
                str(cuts),
                "--decode-dir",
                str(decode_root / test_set),
                "--out-dir",
                str(score_dir),
                "--asr-judges",
                args.judge,
                "--cache-dir",
                str(out / layout.ASR_CACHE),
            ]
            + (["--mos-model", args.mos_model] if args.mos_model else [])
        )
        (summary_path,) = sorted(score_dir.glob(f"*/{test_set}/{layout.SCORE_SUMMARY}"))
        summaries[variant] = json.loads(summary_path.read_text())

    figures = {}
    for variant, summary in summaries.items():
        figures[variant] = {}
        flatten("", summary, figures[variant])
    # per language: the ASR error rates (corpus dWER/dCER as in the papers, the per-utterance protocol's mean,
    # against the reference text), the signal metrics' means and MOS
    keys = [
        k
        for k in figures["fp32"]
        if k in figures["int8"]
        and k.startswith("languages.")
        and (k.endswith(("d_err_pct", "d_err_mean_pct", "reconstruction.rate_pct", ".mean")) or ".mos" in k)
    ]
    print(
        f"\nint8 vs fp32 on {test_set} ({cuts}), judge {args.judge}, codec {args.codec}"
        + (" (streaming)" if args.streaming else "")
    )
    print(f"{'figure':<58} {'fp32':>10} {'int8':>10} {'int8 - fp32':>12}")
    for key in keys:
        a, b = figures["fp32"][key], figures["int8"][key]
        print(f"{key:<58} {a:>10.4g} {b:>10.4g} {b - a:>+12.4g}")
    mos = summaries["fp32"].get("mos", {})
    if "skipped" in mos:
        print(f"MOS: not computed ({mos['skipped']})")
    agree = token_agreement([layout.decode_dir(out, v, test_set) for v in VARIANTS])
    print(f"token agreement int8 / fp32: {agree:.4f}")
    (out / "int8_cost.json").write_text(
        json.dumps(
            {
                "test_set": test_set,
                "codec": args.codec,
                "judge": args.judge,
                "token_agreement": agree,
                "fp32": figures["fp32"],
                "int8": figures["int8"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
