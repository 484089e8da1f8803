#!/usr/bin/env bash
# The mini bilingual recipe: the whole fcodec pipeline on a small Chinese + English corpus that stage 0
# synthesises with eSpeak NG (in the real AISHELL-1 and LibriSpeech layouts, with a few files broken on
# purpose), and tiny models, on a CPU in minutes. It is CI's end-to-end test and the example of a recipe:
# run.sh, conf/ and local/data.sh are its own; codec.sh, path.sh, cmd.sh and utils/ link to egs/TEMPLATE/codec1.
# Its corpus has the AISHELL-1 and LibriSpeech layouts, so stage 1 is the real recipe's (fcodec.data.corpora).
# Its MOS judges are real (NISQA, DNSMOS): NISQA's weights come from ../shared beside the repository when there
# (no network: --nisqa-weights offline), and without them stage 8 scores without NISQA, saying so.
# Stages 7-8 also decode and score the 50 Hz model through two post-hoc bottlenecks (one token rate, one bit
# subset: the two kinds; the real recipe runs four, on the pretrained model too).
#
#   ./run.sh --help            stages and options
#   ./run.sh --stop-stage 3    corpus, manifests, cuts, BPE
# Paths given to it are relative to this folder.
set -euo pipefail
# The name the user ran this script by, for codec.sh's messages ("see ./run.sh --help"), relative when it lies
# below the folder it was run from.
export FCODEC_RECIPE_SCRIPT=${0/#"${PWD}"\//./}
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ./codec.sh \
  --nj 2 \
  --hours "zh=0.05 en=0.05" \
  --dev-utts 8 --num-test-utts all \
  --bpe-vocab-size 600 --bpe-character-coverage 1.0 \
  --pretrained-codec tiny --whisper-model tiny-random --ngpu 0 \
  --asr-judges "tiny-random tiny-random-seed1" --score-args "--max-tokens-per-second 2" \
  --nisqa-weights offline \
  --posthoc-presets "50hz_keep2_275bps 50hz_3bit_150bps" --posthoc-models train_50hz \
  "$@"
