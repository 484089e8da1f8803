"""Score the reconstructions of one or more decodes (stage 8) with one or more ASR judges: ASR error rates under
the paper and predecessor protocols, PESQ / STOI / SI-SDR / mel and STFT distance, MOS judges (NISQA, DNSMOS;
UTMOS when named) on the original and the reconstruction, speaker similarity (Resemblyzer).

    python -m fcodec.bin.score \\
        --ref-cuts data/cuts/test_aishell.jsonl.gz \\
        --decode-dir exp/<tag>/train_50hz/decode/test_aishell \\
        --out-dir exp/<tag>/train_50hz/score \\
        --asr-judges small large-v3   # or local checkpoints: --asr-judges ../shared/models/whisper-base.pt

Each judge's files go to <out-dir>/<judge>/<test_set>/ (<judge>: the published name, or the checkpoint's file name
without .pt): summary.json, utterances.tsv, failed.tsv and icefall-style recogs-/errs-/wer-summary- files.
Several decodes are scored in one run (what stage 8 does: the judges load once), each against the --ref-cuts
file of its test set (data/cuts/<test_set>.jsonl.gz for exp/<tag>/<model>/decode/<test_set>), each into its
model's exp/<tag>/<model>/score unless --out-dir is given:

    python -m fcodec.bin.score --ref-cuts data/cuts/test_{aishell,librispeech}.jsonl.gz \\
        --decode-dir exp/<tag>/*/decode/test_* --asr-judges small

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
from typing import Any, Dict, List

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
        nargs="+",
        required=True,
        help="the test CutSet (16 kHz originals, with text and language on each supervision); with several "
        "decodes, one per test set, named <test_set>.jsonl.gz",
    )
    parser.add_argument(
        "--decode-dir",
        type=Path,
        nargs="+",
        required=True,
        help="<exp_dir>/<model>/decode/<test_set> with recon_cuts.jsonl.gz, failed.tsv, summary.json, .done",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="the score root: each judge's files go to <out-dir>/<judge>/<test_set>/ (default: "
        "<exp_dir>/<model>/score of each decode)",
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
    parser.add_argument(
        "--test-set", default=None, help="name used in file names, one decode only (default: the decode dir's name)"
    )
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

    from fcodec.layout.experiment import judge_label

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
    for ref_cuts in args.ref_cuts:
        if not ref_cuts.is_file():
            raise FileNotFoundError(f"--ref-cuts {ref_cuts} not found (stage 2 writes data/cuts/<test_set>.jsonl.gz)")
    for decode_dir in args.decode_dir:
        if not decode_dir.is_dir():
            raise FileNotFoundError(f"--decode-dir {decode_dir} not found (stage 7, fcodec.bin.decode, writes it)")
    if args.out_dir is not None and args.out_dir.exists() and not args.out_dir.is_dir():
        raise UserError(f"--out-dir {args.out_dir} is a file; give a folder (the recipe uses <exp>/<model>/score)")
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
    work = jobs(args)
    from fcodec.metrics.score_inputs import ScoreConfig
    from fcodec.metrics.scoring import score_many
    from fcodec.utils.logging import setup_logging

    setup_logging(args.log_file)
    command = "python -m fcodec.bin.score " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    options = dict(
        asr_models=args.asr_models,
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
    score_many([ScoreConfig(**job, **options) for job in work])
    return 0


def jobs(args) -> List[Dict[str, Any]]:
    """(ref_cuts, decode_dir, out_dir, test_set) of each decode to score, checked: each decode's test cuts found
    by its test set's name, no two decodes written to one folder."""
    from fcodec.layout.experiment import score_root_of, test_set_name

    if len(args.decode_dir) == 1 and len(args.ref_cuts) == 1:  # one decode: any names
        pairs = [(args.ref_cuts[0], args.decode_dir[0])]
    else:
        if args.test_set is not None:
            raise UserError("--test-set names the files of one decode: give one --decode-dir with it")
        by_name = {test_set_name(path): path for path in args.ref_cuts}
        if len(by_name) != len(args.ref_cuts):
            raise UserError(f"--ref-cuts {' '.join(map(str, args.ref_cuts))}: two files of one test set name")
        pairs = []
        for decode_dir in args.decode_dir:
            if decode_dir.name not in by_name:
                raise UserError(
                    f"--decode-dir {decode_dir}: no --ref-cuts file of its test set ({decode_dir.name}.jsonl.gz) among "
                    f"{' '.join(map(str, args.ref_cuts))}"
                )
            pairs.append((by_name[decode_dir.name], decode_dir))
    found, seen = [], {}
    for ref_cuts, decode_dir in pairs:
        out_dir = args.out_dir or score_root_of(decode_dir)
        if out_dir is None:
            raise UserError(f"--decode-dir {decode_dir} is not <exp>/<model>/decode/<test_set>: give --out-dir")
        where = (Path(out_dir).resolve(), args.test_set or decode_dir.name)
        if where in seen:
            raise UserError(f"--decode-dir {seen[where]} and {decode_dir} would be scored into one folder ({where[0]})")
        seen[where] = decode_dir
        found.append(dict(ref_cuts=ref_cuts, decode_dir=decode_dir, out_dir=out_dir, test_set=args.test_set))
    return found


if __name__ == "__main__":
    sys.exit(main())
