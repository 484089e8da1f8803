#!/usr/bin/env bash
# utils/prepare_manifests.sh: stage 1 for the corpora fcodec knows (AISHELL-1, LibriSpeech: fcodec.data.corpora):
# lhotse manifests in <manifest_dir>, with one marker per corpus (<manifest_dir>/.aishell.done, .librispeech.done),
# so a rerun skips a prepared corpus and rebuilds only the parts whose manifests were deleted. A recipe's
# local/data.sh calls it for its stage 1; a corpus folder given as "" is left out.
set -euo pipefail
# shellcheck disable=SC1091
. utils/common.sh

# <options>
nj=4                                                      # parallel jobs
manifest_dir=data/manifests                               # where the manifests go
# shellcheck disable=SC2034  # read by stage_status (utils/common.sh)
force=false                                               # true: redo, whatever the markers say
aishell_dir=download/aishell                              # the folder that holds data_aishell/ ("": no AISHELL-1)
librispeech_dir=download/LibriSpeech                      # the folder that holds the part folders ("": no LibriSpeech)
librispeech_parts="train-clean-100 dev-clean test-clean"  # LibriSpeech parts to prepare
inputs=""                                                 # files standing for the corpora (e.g. stage 0's marker)
# </options>
# shellcheck disable=SC2034  # read by utils/parse_options.sh
option_names=$(options_in "${BASH_SOURCE[0]}")
print_help() { echo "Usage: $0 [--name value ...]"; options_help "${BASH_SOURCE[0]}"; }
# shellcheck disable=SC1091
. utils/parse_options.sh

# shellcheck disable=SC2086
inputs_fingerprint=$(fingerprint ${inputs})
declare -A folder=([aishell]="${aishell_dir}" [librispeech]="${librispeech_dir}")
fresh=()
partial=()
for corpus in aishell librispeech; do
  [ -n "${folder[${corpus}]}" ] || continue
  signature="prepare ${corpus} dir=${folder[${corpus}]} inputs=${inputs_fingerprint}"
  [ "${corpus}" = librispeech ] && signature+=" parts=${librispeech_parts}"
  case $(stage_status "${manifest_dir}/.${corpus}.done" "${signature}") in
    done) log "${corpus}: manifests are up to date (${manifest_dir}/.${corpus}.done); skipped" ;;
    partial) partial+=("${corpus}=${folder[${corpus}]}") ;;
    todo)
      rm -f "${manifest_dir}/.${corpus}.done" "${manifest_dir}/${corpus}"_*
      fresh+=("${corpus}=${folder[${corpus}]}") ;;
  esac
  printf -v "signature_${corpus}" '%s' "${signature}"
done

for mode in false true; do
  if [ "${mode}" = false ]; then specs=("${fresh[@]}"); else specs=("${partial[@]}"); fi
  [ ${#specs[@]} -gt 0 ] || continue
  log "lhotse manifests for ${specs[*]} -> ${manifest_dir}"
  python -m fcodec.bin.corpora prepare --output-dir "${manifest_dir}" --librispeech-parts "${librispeech_parts}" \
    --nj "${nj}" --keep-existing "${mode}" "${specs[@]}"
  for spec in "${specs[@]}"; do
    corpus=${spec%%=*}
    signature_name="signature_${corpus}"
    mapfile -t outputs < <(find "${manifest_dir}" -maxdepth 1 -type f -name "${corpus}_*" | sort)
    mark_done "${manifest_dir}/.${corpus}.done" "${!signature_name}" "${outputs[@]}"
  done
done
