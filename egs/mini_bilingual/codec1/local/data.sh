#!/usr/bin/env bash
# local/data.sh: stages 0 and 1 of the mini bilingual recipe.
#   stage 0: synthesise a small zh + en corpus with eSpeak NG (AISHELL-1 and LibriSpeech layouts)
#   stage 1: lhotse manifests (prepare_aishell, prepare_librispeech)
# Stage 0 (python -m fcodec.bin.synth_mini_corpus) writes into <dl_dir>, with a few utterances broken on
# purpose; stage 1 is the same as the real recipe's (utils/prepare_manifests.sh, from egs/TEMPLATE).
# To add a corpus, write a local/data.sh like this one: stage 0 gets the corpus, stage 1 writes lhotse
# manifests named <corpus>_{recordings,supervisions}_<part>.jsonl.gz, and conf/data.yaml names them.
set -euo pipefail
# shellcheck disable=SC1091
. utils/common.sh

# <options>
stage=0                        # first stage (0: synthesis, 1: manifests)
stop_stage=1                   # last stage
nj=2                           # parallel jobs
dl_dir=download                # where stage 0 writes the corpus
manifest_dir=data/manifests    # where stage 1 writes
force=false                    # true: redo even when the markers say it is done
# </options>
# <corpus-options>
# -- synthetic corpus (local/data.sh)
mini_seed=0                    # seed of the synthetic corpus: sentences, voices, speaking rates
mini_train_speakers=6          # training speakers per language (eSpeak NG voice variants)
mini_eval_speakers=2           # dev speakers and test speakers per language
mini_train_utts=16             # utterances per training speaker
mini_eval_utts=6               # utterances per dev/test speaker
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
check_option nj int:1
check_option mini_seed int:0
for name in mini_train_speakers mini_eval_speakers mini_train_utts mini_eval_utts; do check_option "${name}" int:1; done
# shellcheck disable=SC1091
. ./path.sh

marker=${dl_dir}/.mini_corpus.done
if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  signature="synth_mini_corpus seed=${mini_seed} speakers=${mini_train_speakers},${mini_eval_speakers}"
  signature+=" utts=${mini_train_utts},${mini_eval_utts}"
  if [ "$(stage_status "${marker}" "${signature}")" = "done" ]; then
    log "Stage 0: the mini corpus in ${dl_dir} is up to date (${marker}); skipped"
  else
    log "Stage 0: synthesising the mini corpus -> ${dl_dir}"
    rm -f "${marker}"
    python -m fcodec.bin.synth_mini_corpus --out-dir "${dl_dir}" --seed "${mini_seed}" \
      --train-speakers "${mini_train_speakers}" --eval-speakers "${mini_eval_speakers}" \
      --train-utts "${mini_train_utts}" --eval-utts "${mini_eval_utts}" --nj "${nj}"
    mark_done "${marker}" "${signature}" "${dl_dir}/aishell" "${dl_dir}/LibriSpeech" "${dl_dir}/mini_corpus_broken.tsv"
  fi
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "Stage 1: lhotse manifests -> ${manifest_dir}"
  utils/prepare_manifests.sh --nj "${nj}" --manifest-dir "${manifest_dir}" --force "${force}" \
    --aishell-dir "${dl_dir}/aishell" --librispeech-dir "${dl_dir}/LibriSpeech" \
    --librispeech-parts "train-clean-100 dev-clean test-clean" --inputs "${marker}"
fi
