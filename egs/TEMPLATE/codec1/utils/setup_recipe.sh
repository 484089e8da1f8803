#!/usr/bin/env bash
# utils/setup_recipe.sh: start a new recipe folder, linked to the shared parts (ESPnet's setup.sh).
#
#   egs/TEMPLATE/codec1/utils/setup_recipe.sh egs/<corpus>/codec1
#
# The new folder gets relative links to codec.sh, path.sh, cmd.sh, utils/ and conf/slurm.conf here, and to the
# default training configs conf/train_{50hz,25hz,12.5hz}.yaml (a recipe that needs other values layers a file of
# its differences over them: docs/data.md, Adding a corpus). What a recipe owns, it then writes itself
# (egs/mini_bilingual/codec1 is the example to copy from):
#   run.sh          cd to its folder, then: exec ./codec.sh <its defaults> "$@"
#   local/data.sh   stage 0 (get the corpus) and stage 1 (lhotse manifests <corpus>_{recordings,supervisions}_<part>
#                   .jsonl.gz in <manifest_dir>); options in a "# <corpus-options>" block become run.sh options
#   conf/data.yaml  which manifests make train, dev and the test sets, and each corpus's language
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  --help|-h) usage; exit 0 ;;
esac
if [ $# -ne 1 ]; then
  usage >&2
  exit 1
fi
target=$1
template=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
egs=$(dirname "$(dirname "${template}")")
mkdir -p "${target}/conf" "${target}/local"
target_abs=$(cd "${target}" && pwd)
if [ "$(dirname "$(dirname "${target_abs}")")" != "${egs}" ]; then
  echo "$0: a recipe lives at <repository>/egs/<corpus>/<task> (${egs}/<corpus>/codec1), not ${target_abs}" >&2
  exit 1
fi
for name in codec.sh path.sh cmd.sh utils; do
  ln -sfn "../../TEMPLATE/codec1/${name}" "${target}/${name}"
done
ln -sfn ../../../TEMPLATE/codec1/conf/slurm.conf "${target}/conf/slurm.conf"
for name in train_50hz.yaml train_25hz.yaml train_12.5hz.yaml; do
  # a config the recipe already has (its own file, or a link it chose) is left alone
  [ -e "${target}/conf/${name}" ] || [ -L "${target}/conf/${name}" ] \
    || ln -s "../../../TEMPLATE/codec1/conf/${name}" "${target}/conf/${name}"
done
echo "made ${target}: now write run.sh, local/data.sh and conf/data.yaml (see egs/mini_bilingual/codec1)"
