"""Score the reconstructions of one test set (stage 8) with one or more ASR judges: ASR error rates under the
paper and predecessor protocols, PESQ / STOI / SI-SDR / mel and STFT distance, UTMOS when its weights are on disk.

    python -m fcodec.bin.score \\
        --ref-cuts data/cuts/test_aishell.jsonl.gz \\
        --decode-dir exp/<tag>/stage1/decode/test_aishell \\
        --out-dir exp/<tag>/stage1/score \\
        --asr-models small large-v3   # or local checkpoints: --asr-models ../shared/models/whisper-base.pt

Each judge's files go to <out-dir>/<judge>/<test_set>/ (<judge>: the published name, or the checkpoint's file name
without .pt): summary.json, utterances.tsv, failed.tsv and icefall-style recogs-/errs-/wer-summary- files.
Whisper-small (by name, or a file with its published sha256) is the FocalCodec papers' judge: its paper-protocol
dWER is the comparable one; add an independent judge (large-v3) beside it. The signal metrics do not depend on
the judge and are computed once. Transcripts of the original audio are cached per judge in --cache-dir (default
exp/<tag>/asr_cache) and reused by every stage.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref-cuts", type=Path, required=True, help="the test CutSet (16 kHz originals, with text "
                        "and language on each supervision)")
    parser.add_argument("--decode-dir", type=Path, required=True, help="<stage_dir>/decode/<test_set> with "
                        "recon_cuts.jsonl.gz, failed.tsv, summary.json, .done")
    parser.add_argument("--out-dir", type=Path, required=True, help="the score root: each judge's files go to "
                        "<out-dir>/<judge>/<test_set>/")
    parser.add_argument("--asr-models", nargs="+", required=True, metavar="JUDGE", help="Whisper judges, each a "
                        "published name (small, large-v3) or a checkpoint file in openai-whisper's format; their "
                        "names (file names without .pt) must differ")
    parser.add_argument("--test-set", default=None, help="name used in file names (default: the decode dir's name)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache of the originals' transcripts, one file "
                        "per test set and judge (default: exp/<tag>/asr_cache when --out-dir is exp/<tag>/stageN/score, "
                        "else <out-dir>/asr_cache)")
    parser.add_argument("--nj", type=int, default=2, help="processes for the signal metrics (0: in this process)")
    parser.add_argument("--batch-size", type=int, default=16, help="utterances per Whisper batch")
    parser.add_argument("--device", default="cpu", help="device of the Whisper judge and the MOS predictor")
    parser.add_argument("--max-delay-ms", type=float, default=100.0, help="largest reconstruction delay searched "
                        "by cross-correlation before PESQ/STOI (0: no delay compensation)")
    parser.add_argument("--mos-model", default=None, help="local SpeechMOS checkout for UTMOS (its hubconf.py is "
                        "imported, so name only code you trust; default: no MOS)")
    parser.add_argument("--zh-prompt", default=None, help="initial prompt for Mandarin, e.g. 以下是普通话的句子。 "
                        "(default: none)")
    parser.add_argument("--max-tokens-per-second", type=float, default=None, help="cap on transcript length per "
                        "second of audio (default 25: never reached by real speech; a tiny random judge, which never "
                        "ends a transcript, scores much faster with a small cap)")
    parser.add_argument("--allow-unfinished", action="store_true", help="score a decode dir without .done")
    parser.add_argument("--log-file", type=Path, default=None)
    return parser


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    from fcodec.metrics.scoring import ScoreConfig, score
    from fcodec.utils.logging import setup_logging

    setup_logging(args.log_file)
    command = "python -m fcodec.bin.score " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None
                                                                              else argv))
    config = ScoreConfig(ref_cuts=args.ref_cuts, decode_dir=args.decode_dir, out_dir=args.out_dir,
                         asr_models=args.asr_models, test_set=args.test_set, cache_dir=args.cache_dir, nj=args.nj,
                         batch_size=args.batch_size, device=args.device, max_delay_ms=args.max_delay_ms,
                         mos_model=args.mos_model, zh_prompt=args.zh_prompt,
                         max_tokens_per_second=args.max_tokens_per_second,
                         require_done=not args.allow_unfinished, command=command)
    score(config)


if __name__ == "__main__":
    main()
