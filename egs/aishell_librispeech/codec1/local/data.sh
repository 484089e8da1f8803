#!/usr/bin/env bash
# local/data.sh: stages 0 and 1 of the AISHELL-1 + LibriSpeech recipe.
#   stage 0: corpora: use the ones on disk, or download them with lhotse
#   stage 1: lhotse manifests (prepare_aishell, prepare_librispeech)
# Stage 0 uses --aishell-dir / --librispeech-dir when given (and stops if the layout is wrong); otherwise it
# downloads into <dl_dir>, unless the corpus is there already. Stage 1 runs utils/prepare_manifests.sh
# (python -m fcodec.bin.corpora: the corpus code is fcodec/data/corpora/).
# codec.sh calls it with the options below; it also runs alone, e.g.
#   local/data.sh --stage 1 --stop-stage 1 --aishell-dir /corpora/aishell --librispeech-dir /corpora/LibriSpeech
set -euo pipefail
# shellcheck disable=SC1091
. utils/common.sh

# <options>
stage=0                        # first stage (0: corpora, 1: manifests)
stop_stage=1                   # last stage
nj=4                           # parallel jobs
dl_dir=download                # where stage 0 downloads to
manifest_dir=data/manifests    # where stage 1 writes
force=false                    # true: redo stage 1 even when its markers say it is done
# </options>
# <corpus-options>
# -- corpora (local/data.sh)
aishell_dir=                   # AISHELL-1 on disk: the folder holding data_aishell/ (empty: <dl-dir>/aishell,
                               # downloaded)
librispeech_dir=               # LibriSpeech on disk: the folder holding train-clean-100/ ... (empty:
                               # <dl-dir>/LibriSpeech, downloaded)
librispeech_parts="train-clean-100 dev-clean test-clean"  # LibriSpeech parts to use; add train-clean-360 for
                               # 360 h more English
openslr_url=http://www.openslr.org/resources  # where stage 0 downloads from: OpenSLR, or one of its mirrors
# </corpus-options>
# shellcheck disable=SC2034  # read by utils/parse_options.sh
option_names="$(options_in "${BASH_SOURCE[0]}") $(options_in "${BASH_SOURCE[0]}" corpus-options)"
print_help() {
  echo "Usage: $0 [--name value ...]"
  options_help "${BASH_SOURCE[0]}"
  options_help "${BASH_SOURCE[0]}" corpus-options
}
# shellcheck disable=SC1091
. utils/parse_options.sh
# shellcheck disable=SC1091
. ./path.sh

given=""
[ -n "${aishell_dir}" ] && given+=" aishell"
[ -n "${librispeech_dir}" ] && given+=" librispeech"
aishell_dir=${aishell_dir:-${dl_dir}/aishell}
librispeech_dir=${librispeech_dir:-${dl_dir}/LibriSpeech}

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  log "Stage 0: AISHELL-1 in ${aishell_dir}, LibriSpeech (${librispeech_parts}) in ${librispeech_dir}"
  python -m fcodec.bin.corpora fetch --dl-dir "${dl_dir}" --librispeech-parts "${librispeech_parts}" \
    --given "${given}" --base-url "${openslr_url}" "aishell=${aishell_dir}" "librispeech=${librispeech_dir}"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "Stage 1: lhotse manifests -> ${manifest_dir}"
  utils/prepare_manifests.sh --nj "${nj}" --manifest-dir "${manifest_dir}" --force "${force}" \
    --aishell-dir "${aishell_dir}" --librispeech-dir "${librispeech_dir}" --librispeech-parts "${librispeech_parts}"
fi
