#!/usr/bin/env bash
# Fine-tune FocalCodec-S on AISHELL-1 (Chinese) + LibriSpeech (English): ./run.sh --help lists the stages
# and every option. The stage logic is shared (codec.sh, from egs/TEMPLATE/codec1); this recipe owns conf/
# and local/ (stage 0 and 1 for its corpora). Paths given to it are relative to this folder.
#
#   ./run.sh --stop-stage 3                                       # download, manifests, cuts, BPE
#   ./run.sh --aishell-dir /corpora/aishell --librispeech-dir /corpora/LibriSpeech --stop-stage 3
set -euo pipefail
# The name the user ran this script by, for codec.sh's messages ("see ./run.sh --help"), relative when it lies
# below the folder it was run from.
export FCODEC_RECIPE_SCRIPT=${0/#"${PWD}"\//./}
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ./codec.sh "$@"
