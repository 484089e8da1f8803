"""Score the reconstructions of one test set (stage 8) with one or more ASR judges: ASR error rates under the
paper and predecessor protocols, PESQ / STOI / SI-SDR / mel and STFT distance, MOS judges (NISQA, DNSMOS; UTMOS
when named) on the original and the reconstruction, speaker similarity (Resemblyzer).

    python -m fcodec.bin.score \\
        --ref-cuts data/cuts/test_aishell.jsonl.gz \\
        --decode-dir exp/<tag>/train_50hz/decode/test_aishell \\
        --out-dir exp/<tag>/train_50hz/score \\
        --asr-judges small large-v3   # or local checkpoints: --asr-judges ../shared/models/whisper-base.pt

Each judge's files go to <out-dir>/<judge>/<test_set>/ (<judge>: the published name, or the checkpoint's file name
without .pt): summary.json, utterances.tsv, failed.tsv and icefall-style recogs-/errs-/wer-summary- files.
Whisper-small (by name, or a file with its published sha256) is the FocalCodec papers' judge: its paper-protocol
dWER is the comparable one; add an independent judge (large-v3) beside it. The signal metrics do not depend on
the judge and are computed once, and so are the MOS judges and the speaker similarity. Transcripts, MOS and speaker
embeddings of the original audio are cached per judge in --cache-dir (default exp/<tag>/asr_cache) and reused by
every model. A MOS judge that cannot be loaded (no weights, package missing) is skipped with one line.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from fcodec.metrics.mos import DEFAULT_MOS_JUDGES, MOS_JUDGES
from fcodec.utils.cli import UserError, command_line

PROG = "python -m fcodec.bin.score"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ref-cuts",
        type=Path,
        required=True,
        help="the test CutSet (16 kHz originals, with text and language on each supervision)",
    )
    parser.add_argument(
        "--decode-dir",
        type=Path,
        required=True,
        help="<exp_dir>/<model>/decode/<test_set> with recon_cuts.jsonl.gz, failed.tsv, summary.json, .done",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        required=True,
        help="the score root: each judge's files go to <out-dir>/<judge>/<test_set>/",
    )
    parser.add_argument(
        "--asr-judges",
        "--asr-models",  # the earlier name, still read
        dest="asr_models",
        nargs="+",
        required=True,
        metavar="JUDGE",
        help="Whisper judges (the recipe's --asr-judges), each a "
        "published name (small, large-v3) or a checkpoint file in openai-whisper's format; their "
        "names (file names without .pt) must differ",
    )
    parser.add_argument("--test-set", default=None, help="name used in file names (default: the decode dir's name)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache of the originals' transcripts, one file "
        "per test set and judge (default: exp/<tag>/asr_cache when --out-dir is exp/<tag>/<model>/score, "
        "else <out-dir>/asr_cache)",
    )
    parser.add_argument("--nj", type=int, default=2, help="processes for the signal metrics (0: in this process)")
    parser.add_argument("--batch-size", type=int, default=16, help="utterances per Whisper batch")
    parser.add_argument(
        "--device", default="cpu", help="device of the Whisper judge, the MOS judges and the speaker encoder"
    )
    parser.add_argument(
        "--max-delay-ms",
        type=float,
        default=100.0,
        help="largest reconstruction delay searched by cross-correlation before PESQ/STOI (0: no delay compensation)",
    )
    parser.add_argument(
        "--mos-judges",
        nargs="*",
        default=list(DEFAULT_MOS_JUDGES),
        metavar="JUDGE",
        choices=list(MOS_JUDGES),
        help="MOS judges scored on the original and the reconstruction "
        f"(default: {' '.join(DEFAULT_MOS_JUDGES)}; utmos only when named; none: give the option "
        "without a value)",
    )
    parser.add_argument(
        "--nisqa-model",
        default=None,
        help="NISQA v2.0 weights, nisqa.tar (default: "
        "../shared/models/nisqa/nisqa.tar beside the repository when there; fetched by "
        "python -m fcodec.bin.fetch_mos nisqa)",
    )
    parser.add_argument(
        "--mos-model",
        default=None,
        help="UTMOS (--mos-judges utmos): local SpeechMOS checkout; "
        "its hubconf.py is imported, so name only code you trust (default: the torch.hub cache, "
        "searched only when utmos is named; skipped with a message when absent)",
    )
    parser.add_argument(
        "--speaker-model",
        default="resemblyzer",
        choices=["resemblyzer", "none"],
        help="speaker encoder of the speaker similarity (none: not computed)",
    )
    parser.add_argument(
        "--zh-prompt", default=None, help="initial prompt for Mandarin, e.g. 以下是普通话的句子。 (default: none)"
    )
    parser.add_argument(
        "--max-tokens-per-second",
        type=float,
        default=None,
        help="cap on transcript length per "
        "second of audio (default 25: never reached by real speech; a tiny random judge, which never "
        "ends a transcript, scores much faster with a small cap)",
    )
    parser.add_argument("--allow-unfinished", action="store_true", help="score a decode dir without .done")
    parser.add_argument("--log-file", type=Path, default=None)
    return parser


def check_options(args) -> None:
    """What a run would fail on after minutes of work, checked first."""
    import os

    import whisper

    from fcodec.metrics.transcribe import judge_label

    for judge in args.asr_models:
        if not os.path.isfile(judge) and judge not in whisper.available_models():
            raise UserError(
                f"--asr-judges {judge}: neither a checkpoint file nor a published Whisper name "
                f"({', '.join(whisper.available_models())})"
            )
    labels = [judge_label(judge) for judge in args.asr_models]
    if len(set(labels)) != len(labels):
        raise UserError(
            f"--asr-judges {' '.join(args.asr_models)}: two judges would share a score folder (named "
            f"{labels}: a judge is named after its published name or its file name without .pt)"
        )
    if not args.ref_cuts.is_file():
        raise FileNotFoundError(f"--ref-cuts {args.ref_cuts} not found (stage 2 writes data/cuts/<test_set>.jsonl.gz)")
    if not args.decode_dir.is_dir():
        raise FileNotFoundError(f"--decode-dir {args.decode_dir} not found (stage 7, fcodec.bin.decode, writes it)")
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise UserError(f"--out-dir {args.out_dir} is a file; give a folder (the recipe uses <stage_dir>/score)")
    if args.nj < 0 or args.batch_size < 1 or args.max_delay_ms < 0:
        raise UserError(
            f"--nj {args.nj}, --batch-size {args.batch_size}, --max-delay-ms {args.max_delay_ms}: give "
            f"--nj >= 0, --batch-size >= 1, --max-delay-ms >= 0"
        )
    if args.mos_model is not None and not Path(args.mos_model, "hubconf.py").is_file():
        raise UserError(f"--mos-model {args.mos_model}: no SpeechMOS checkout there (no hubconf.py)")


@command_line(PROG)
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    check_options(args)
    from fcodec.metrics.score_inputs import ScoreConfig
    from fcodec.metrics.scoring import score
    from fcodec.utils.logging import setup_logging

    setup_logging(args.log_file)
    command = "python -m fcodec.bin.score " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    config = ScoreConfig(
        ref_cuts=args.ref_cuts,
        decode_dir=args.decode_dir,
        out_dir=args.out_dir,
        asr_models=args.asr_models,
        test_set=args.test_set,
        cache_dir=args.cache_dir,
        nj=args.nj,
        batch_size=args.batch_size,
        device=args.device,
        max_delay_ms=args.max_delay_ms,
        mos_model=args.mos_model,
        mos_judges=args.mos_judges,
        nisqa_model=args.nisqa_model,
        speaker_model=args.speaker_model,
        zh_prompt=args.zh_prompt,
        max_tokens_per_second=args.max_tokens_per_second,
        require_done=not args.allow_unfinished,
        command=command,
    )
    score(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
