#!/usr/bin/env bash
# codec.sh: the recipe driver every fcodec recipe shares (ESPnet's TEMPLATE/<task>/<task>.sh shape).
#
# A recipe folder (egs/<corpus>/codec1) holds its own run.sh, conf/ and local/, and links to codec.sh,
# path.sh, cmd.sh and utils/ here (utils/setup_recipe.sh makes a new one). run.sh sets the recipe's defaults
# and calls "./codec.sh <defaults> "$@"" from the recipe folder, so what the user types wins. It exports
# FCODEC_RECIPE_SCRIPT, the name the user ran it by, so that messages say "see ./run.sh --help".
#
# Corpus-specific work lives in the recipe's local/data.sh: stage 0 (get the corpora) and stage 1 (lhotse
# manifests into <data_dir>/manifests, as <corpus>_{recordings,supervisions}_<part>.jsonl.gz). The options in its
# "# <corpus-options>" block are options of run.sh too; codec.sh passes them on. Stages 2 and on are the same
# for every corpus: conf/data.yaml says which manifests make which split.
#
# Each stage marks completion in its output folder (<dir>/.<name>.done, written after it succeeded) and is
# skipped on the next run; see utils/common.sh for how deleted outputs and changed options are handled.
set -euo pipefail

if [ ! -f utils/common.sh ] || [ ! -f local/data.sh ]; then
  echo "$0: run me from a recipe folder (egs/<corpus>/codec1): utils/ and local/data.sh must be there" >&2
  exit 1
fi
# shellcheck disable=SC1091
. utils/common.sh
SECONDS=0
_run_args="$*"
_self=${BASH_SOURCE[0]}
# The name of the command in messages (utils/parse_options.sh, check_option): the run.sh the user ran, as run.sh
# passes it; this script's own, relative to the recipe folder it runs in, when it was run directly. Not passed
# on to the scripts this one runs (local/data.sh names itself).
_prog=${FCODEC_RECIPE_SCRIPT:-./${0##*/}}
unset FCODEC_RECIPE_SCRIPT

# Every option of the recipe, with its default. This block is also the --help text ("# -- x" is a heading,
# "name=value  # text" an option), and only the names declared here (and in local/data.sh's corpus-options
# block) are accepted on the command line.
# <options>
# -- stages
stage=0                           # first stage to run
stop_stage=100                    # last stage to run
force=false                       # true: redo the selected stages even when their .done markers say they are done
nj=4                              # parallel jobs (audio reading, lhotse, sentencepiece)
# -- folders (relative to the recipe folder)
dl_dir=download                   # where stage 0 puts (or finds) the corpora
data_dir=data                     # stages 1-3 write manifests/, cuts/, lang_bpe_<vocab>/ and log/ here
# -- stage 2: cuts
data_config=conf/data.yaml        # which manifests make train, dev and the test sets; the language of each corpus
zh_hours=100                      # hours of Chinese in the training mix ("all": everything there is)
en_hours=100                      # hours of English in the training mix ("all": everything there is)
dev_utts=200                      # dev utterances per language ("all": everything)
num_test_utts=2000                # utterances per test set ("all": everything)
min_duration=0.5                  # utterances shorter than this (seconds) are bad input, in every split
max_duration=20                   # utterances longer than this (seconds) are left out of train and dev
audio_check=full                  # full: decode every sample of every recording; header: only open each file
seed=0                            # seed of every random choice in the data stages
# -- stage 3: BPE model
bpe_vocab_size=5000               # sentencepiece vocabulary size (writes <data_dir>/lang_bpe_<size>/bpe.model)
bpe_model_type=bpe                # bpe or unigram
bpe_character_coverage=0.9995     # share of character occurrences that get a piece of their own (rarer: bytes)
# -- stage 3: model assets (into <data_dir>/models)
pretrained_codec=lucadellalib/focalcodec_50hz_2k_causal  # codec training starts from: repo id or folder; tiny: random tiny
whisper_model=small               # Whisper of the ASR loss: a published name; tiny-random: a random tiny one
nisqa_weights=fetch               # NISQA MOS judge's weights (<data_dir>/models/mos/nisqa.tar): fetch (shared/ copy beside the repo, else download), offline (local copies only: none means no NISQA judge), or a local nisqa.tar
# -- stages 4-6: training
exp_dir=exp                       # training stage k writes <exp_dir>/stage<k> (best/ holds its exported model)
tag=""                            # a variant's name: stages 4-8 write to <exp_dir>/<tag>/ instead (its RESULTS.md too)
train_stage1_config=conf/stage1.yaml  # training config of recipe stage 4 (50 Hz)
train_stage2_config=conf/stage2.yaml  # training config of recipe stage 5 (grown to 25 Hz)
train_stage3_config=conf/stage3.yaml  # training config of recipe stage 6 (grown to 12.5 Hz)
train_args=""                     # extra key=value overrides for every training stage, e.g. "train.max_steps=100"
ngpu=1                            # GPUs per machine: 0 = CPU, 1 = one process, N > 1 = torchrun with N processes
num_nodes=1                       # machines (torchrun --nnodes); more than 1 needs --rdzv-endpoint, run on each
rdzv_endpoint=""                  # host:port of the torchrun rendezvous when num_nodes > 1
# -- stages 7-8: decoding and scoring (each trained stage, plus the pretrained codec as stage0)
test_sets=""                      # test sets to decode and score (default: every test set of --data-config)
decode_stage0=true                # also decode and score the pretrained codec as stage0: RESULTS.md's baseline row
decode_streaming=false            # true: decode chunk by chunk (80 ms), as live streaming would (the same tokens)
decode_max_duration=100           # seconds of padded audio per decoding batch (the results do not depend on it)
decode_num_threads=0              # torch CPU threads of a decoding job (0: 1 beside a GPU, half the cores on a CPU)
asr_judges="small large-v3"       # Whisper judges of stage 8, space-separated: published names (fetched into <data_dir>/models/whisper by stage 3), .pt files, or tiny-random[-seed<N>]; small = the papers' judge
mos_judges="nisqa dnsmos"         # MOS judges of stage 8 on original and reconstruction: nisqa, dnsmos (speechmos wheel), utmos (only from a local torch.hub cache); "" for none
score_args=""                     # extra options for fcodec.bin.score, e.g. "--zh-prompt 以下是普通话的句子。"
results=""                        # where stage 8 writes the results table, the plot beside it (default: RESULTS.md; tagged: <exp_dir>/<tag>/RESULTS.md)
# </options>

# The corpus options of local/data.sh are options of the recipe too.
eval "$(options_block local/data.sh corpus-options)"
_corpus_options=$(options_in local/data.sh corpus-options)
# shellcheck disable=SC2034  # read by utils/parse_options.sh
option_names="$(options_in "${_self}") ${_corpus_options}"

# Where stages 4-8 write (a tagged run: its own folder under --exp-dir), and stage 8's results table.
tagged_exp_dir() {
  echo "${exp_dir}${tag:+/${tag}}"
}
results_file() {
  if [ -n "${results}" ]; then
    echo "${results}"
  elif [ -n "${tag}" ]; then
    echo "$(tagged_exp_dir)/RESULTS.md"
  else
    echo RESULTS.md
  fi
}

# The ASR judges of stage 8 (--asr-judges): a published Whisper name, fetched into <data_dir>/models/whisper/<name>.pt,
# or a .pt file used where it is. Each scores into score/<judge_label>/ (fcodec.metrics.transcribe.judge_label).
judge_is_file() {
  [[ "$1" == */* || "$1" == *.pt ]]
}
judge_label() {
  local base=${1##*/}
  echo "${base%.pt}"
}
judge_path() {
  if judge_is_file "$1"; then echo "$1"; else echo "${data_dir}/models/whisper/$1.pt"; fi
}
judge_marker() {
  echo "${data_dir}/models/whisper/.judge_$1.done"
}

# A stage's one-line description from local/data.sh's header ("#   stage N: text").
stage_doc() {
  sed -n "s/^#   stage $1: //p" local/data.sh | head -n 1
}

print_help() {
  # the folders as a run with these options would use them (a tagged run's are under <exp_dir>/<tag>/)
  local out_dir results_md
  out_dir=$(tagged_exp_dir)
  results_md=$(results_file)
  cat <<EOF
Usage: ${_prog} [--name value ...]      ("--stop-stage" and "--stop_stage" both work; paths are relative to the recipe folder)

Stages:
   0  $(stage_doc 0)
   1  $(stage_doc 1)  -> ${data_dir}/manifests
   2  cuts: 16 kHz, one supervision each, every recording checked, text normalised, zh/en tags,
      training mix by hours per language, dev and test sets, bad-input report  -> ${data_dir}/cuts
   3  sentencepiece BPE over the training text; model assets: the pretrained codec, the Whisper of
      the ASR loss, the ASR judges and the NISQA weights  -> ${data_dir}/lang_bpe_<vocab>, ${data_dir}/models
   4  training stage 1: 50 Hz, 550 bps, from the pretrained codec      -> ${out_dir}/stage1
   5  training stage 2: 25 Hz, 275 bps, grown from stage 4             -> ${out_dir}/stage2
   6  training stage 3: 12.5 Hz, 137.5 bps, grown from stage 5         -> ${out_dir}/stage3
   7  decode the test sets with each trained stage (and the pretrained codec as stage0): tokens
      attached to the cuts, reconstructions     -> ${out_dir}/stage<k>/decode/<test_set>
   8  score: dWER/dCER under both protocols with each ASR judge, PESQ, STOI, SI-SDR, mel/STFT distance,
      MOS judges (--mos-judges), speaker similarity, bitrate
                  -> ${out_dir}/stage<k>/score/<judge>/<test_set>, ${results_md} and its plot

Options (the values shown are this recipe's defaults, with any option given before --help applied):
EOF
  options_help "${_self}"
  options_help local/data.sh corpus-options
  cat <<EOF

    --config FILE                      read options from FILE (bash: name=value lines) before the command line
    --help                             this text

Each stage logs to ${data_dir}/log/stage<N>.log and marks completion with <output dir>/.<name>.done; a rerun
skips finished stages, rebuilds deleted outputs, and redoes a stage whose options or inputs changed (and the
stages after it, when what it made changed); --force true redoes the selected stages.

Variants: "--tag NAME" puts the outputs of stages 4-8 (training, decoding, scoring, RESULTS.md) in
<exp_dir>/NAME/, so runs with other training configs or options sit side by side; stages 0-3 (data, BPE, model
assets) are shared: a variant with other data options needs its own --data-dir.
EOF
}

# shellcheck disable=SC1091
. utils/parse_options.sh
if [ $# -ne 0 ]; then
  log "Error: positional arguments are not accepted: $*"
  log "See ${_prog} --help"
  exit 2
fi

# What the options must hold (parse_options.sh has checked the true/false ones): a clear error now, not a bash
# error in the middle of a stage, nor a run that "succeeds" without running anything.
check_option stage int:0:8
check_option stop_stage int:0  # may go past 8: the default, 100, means "to the end"
[ "${stop_stage}" -ge "${stage}" ] || option_error "--stop-stage ${stop_stage} is before --stage ${stage}: no stage would run"
check_option nj int:1
for name in dl_dir data_dir data_config exp_dir; do check_option "${name}" path; done
check_option zh_hours number all
check_option en_hours number all
check_option dev_utts int:1 all
check_option num_test_utts int:1 all
check_option min_duration number0
check_option max_duration number all
check_option audio_check word full header
check_option seed int:0
check_option bpe_vocab_size int:1
check_option bpe_model_type word bpe unigram
check_option bpe_character_coverage number:1
check_option pretrained_codec path
check_option whisper_model path
check_option ngpu int:0
check_option num_nodes int:1
check_option decode_max_duration number
check_option decode_num_threads int:0
check_option asr_judges path
read -r -a mos_judge_list <<< "${mos_judges}"
for name in "${mos_judge_list[@]}"; do
  case "${name}" in
    nisqa|dnsmos|utmos) ;;
    *) option_error "--mos-judges: unknown MOS judge '${name}' (nisqa, dnsmos or utmos)" ;;
  esac
done
case "${nisqa_weights}" in
  fetch|offline) ;;
  *) [ -f "${nisqa_weights}" ] || option_error "--nisqa-weights: ${nisqa_weights} is not a file (fetch, offline, or a local nisqa.tar)" ;;
esac
# Each judge scores into score/<judge>/, <judge> being its published name or its file name without .pt: the names
# must differ, and a judge given as a file must be there.
read -r -a judge_specs <<< "${asr_judges}"
[ ${#judge_specs[@]} -gt 0 ] || option_error "--asr-judges must name at least one judge, got '${asr_judges}'"
declare -A _judge_seen=()
for spec in "${judge_specs[@]}"; do
  label=$(judge_label "${spec}")
  [ -z "${_judge_seen[${label}]:-}" ] || option_error "--asr-judges: '${_judge_seen[${label}]}' and '${spec}' would both score into score/${label}/ (a judge is named after its published name or its file name without .pt)"
  _judge_seen[${label}]=${spec}
  if judge_is_file "${spec}" && [ ! -f "${spec}" ]; then
    option_error "--asr-judges: ${spec} is not a file (a judge is a published Whisper name, or a .pt checkpoint in openai-whisper's format)"
  fi
done
if [ -n "${tag}" ]; then
  # a folder name of its own: not a path, and not one of the names the untagged stages use in <exp_dir>
  if ! [[ "${tag}" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || [[ "${tag}" =~ ^stage[0-9]+$ ]] || [ "${tag}" = asr_cache ]; then
    option_error "--tag must be a folder name (letters, digits, '.', '_', '-'; not stage<N> or asr_cache), got '${tag}'"
  fi
fi

# Every later stage reads exp_dir: a tagged run's training, decoding and scoring go to <exp_dir>/<tag>/.
# The originals' transcripts do not depend on the codec: every tag shares one cache (keyed by judge and cut).
results=$(results_file)
asr_cache_dir=${exp_dir}/asr_cache
nisqa_file=${data_dir}/models/mos/nisqa.tar
nisqa_marker=${data_dir}/models/mos/.nisqa.done
exp_dir=$(tagged_exp_dir)

# shellcheck disable=SC1091
. ./path.sh
# shellcheck source=cmd.sh
. ./cmd.sh
if ! python -c "import fcodec" 2>/dev/null; then
  die "python ($(command -v python || echo 'not found')) cannot import fcodec; run tools/install.sh in the" \
      "repository, which makes tools/venv (path.sh activates it)"
fi

log "${_prog} ${_run_args} (stages ${stage}-${stop_stage}${tag:+, tag ${tag}: ${exp_dir}})"
log_dir=${data_dir}/log
manifest_dir=${data_dir}/manifests
data_args=(--nj "${nj}" --dl-dir "${dl_dir}" --manifest-dir "${manifest_dir}" --force "${force}")
corpus_args=()
for name in ${_corpus_options}; do
  corpus_args+=("--${name//_/-}" "${!name}")
done

# A line for the console and for the stage's log file (a stage that is skipped says so there too).
stage_log() {
  local number=$1 line
  shift
  line="$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}:${FUNCNAME[1]:-main}) $*"
  printf '%s\n' "${line}" >&2
  mkdir -p "${log_dir}"
  printf '%s\n' "${line}" >> "${log_dir}/stage${number}.log"
}

# fetch_judge NUMBER NAME: the published Whisper NAME at <data_dir>/models/whisper/NAME.pt (fetch_whisper: into a
# temporary file, its sha256 checked against the published one, then renamed), unless its marker says it is there.
# Stage 3 fetches every judge given by name; stage 8 one added since.
fetch_judge() {
  local number=$1 name=$2 dir=${data_dir}/models/whisper marker signature status
  marker=$(judge_marker "${name}")
  signature="whisper judge ${name}"
  status=$(stage_status "${marker}" "${signature}")
  if [ "${status}" = "done" ]; then
    stage_log "${number}" "Stage ${number}: the ASR judge ${dir}/${name}.pt is up to date (${marker}); skipped"
    return 0
  fi
  stage_log "${number}" "Stage ${number}: Whisper ${name}, an ASR judge of stage 8 -> ${dir}/${name}.pt"
  rm -f "${marker}"
  ${train_cmd} "${log_dir}/stage${number}.log" python -m fcodec.bin.fetch_whisper "${name}" --out-dir "${dir}"
  mark_done "${marker}" "${signature}" "${dir}/${name}.pt"
}

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  log "Stage 0: corpora (local/data.sh)"
  ${train_cmd} "${log_dir}/stage0.log" local/data.sh --stage 0 --stop-stage 0 "${data_args[@]}" "${corpus_args[@]}"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "Stage 1: lhotse manifests -> ${manifest_dir} (local/data.sh)"
  ${train_cmd} "${log_dir}/stage1.log" local/data.sh --stage 1 --stop-stage 1 "${data_args[@]}" "${corpus_args[@]}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  cuts_dir=${data_dir}/cuts
  marker=${cuts_dir}/.cuts.done
  [ -f "${data_config}" ] || die "data config ${data_config} not found (see --data-config)"
  signature="make_cuts config=$(fingerprint "${data_config}") hours=zh:${zh_hours},en:${en_hours}"
  signature+=" dev_utts=${dev_utts} num_test_utts=${num_test_utts} min_duration=${min_duration}"
  signature+=" max_duration=${max_duration} audio_check=${audio_check} seed=${seed}"
  signature+=" manifests=$(fingerprint "${manifest_dir}"/.*.done)"
  status=$(stage_status "${marker}" "${signature}")
  if [ "${status}" = "done" ]; then
    stage_log 2 "Stage 2: ${cuts_dir} is up to date (${marker}); skipped"
  else
    stage_log 2 "Stage 2: cuts -> ${cuts_dir} ($([ "${status}" = partial ] && echo "only what is missing" || echo "from scratch"))"
    keep=true
    if [ "${status}" = todo ]; then
      keep=false
      rm -rf "${cuts_dir}"
    fi
    ${train_cmd} --num-threads "${nj}" "${log_dir}/stage2.log" \
      python -m fcodec.bin.make_cuts --config "${data_config}" --manifest-dir "${manifest_dir}" \
        --out-dir "${cuts_dir}" --hours "zh=${zh_hours}" "en=${en_hours}" --dev-utts "${dev_utts}" \
        --num-test-utts "${num_test_utts}" --min-duration "${min_duration}" --max-duration "${max_duration}" \
        --audio-check "${audio_check}" --seed "${seed}" --nj "${nj}" --keep-existing "${keep}"
    mapfile -t outputs < <(find "${cuts_dir}" -type f ! -name '.*' | sort)
    mark_done "${marker}" "${signature}" "${outputs[@]}"
  fi
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  lang_dir=${data_dir}/lang_bpe_${bpe_vocab_size}
  marker=${lang_dir}/.bpe.done
  signature="train_bpe vocab_size=${bpe_vocab_size} model_type=${bpe_model_type}"
  signature+=" character_coverage=${bpe_character_coverage} cuts=$(fingerprint "${data_dir}/cuts/.cuts.done")"
  status=$(stage_status "${marker}" "${signature}")
  if [ "${status}" = "done" ]; then
    stage_log 3 "Stage 3: ${lang_dir} is up to date (${marker}); skipped"
  else
    stage_log 3 "Stage 3: sentencepiece ${bpe_model_type} model, ${bpe_vocab_size} pieces -> ${lang_dir}"
    rm -rf "${lang_dir}"
    ${train_cmd} --num-threads "${nj}" "${log_dir}/stage3.log" \
      python -m fcodec.bin.train_bpe --cuts "${data_dir}/cuts/train.jsonl.gz" --lang-dir "${lang_dir}" \
        --vocab-size "${bpe_vocab_size}" --model-type "${bpe_model_type}" \
        --character-coverage "${bpe_character_coverage}" --nj "${nj}"
    mark_done "${marker}" "${signature}" "${lang_dir}/bpe.model" "${lang_dir}/bpe.vocab" "${lang_dir}/train_text.txt"
  fi

  # Model assets: the codec that training starts from, the Whisper of the ASR loss, and the ASR judges of stage 8
  # (fetched here, with the other downloads, so that scoring needs no network).
  models_dir=${data_dir}/models
  marker=${models_dir}/codec/.codec.done
  signature="codec source=${pretrained_codec}"
  status=$(stage_status "${marker}" "${signature}")
  if [ "${status}" = "done" ]; then
    stage_log 3 "Stage 3: ${models_dir}/codec is up to date (${marker}); skipped"
  else
    stage_log 3 "Stage 3: the pretrained codec (${pretrained_codec}) -> ${models_dir}/codec"
    rm -rf "${models_dir}/codec"
    if [ "${pretrained_codec}" = tiny ]; then
      ${train_cmd} "${log_dir}/stage3.log" python -m fcodec.bin.make_tiny_codec --out "${models_dir}/codec"
    else
      ${train_cmd} "${log_dir}/stage3.log" python -m fcodec.bin.fetch_codec "${pretrained_codec}" --out "${models_dir}/codec"
    fi
    mark_done "${marker}" "${signature}" "${models_dir}/codec/config.json" "${models_dir}/codec/model.safetensors"
  fi
  marker=${models_dir}/whisper/.whisper.done
  signature="whisper ${whisper_model}"
  status=$(stage_status "${marker}" "${signature}")
  if [ "${status}" = "done" ]; then
    stage_log 3 "Stage 3: ${models_dir}/whisper is up to date (${marker}); skipped"
  else
    stage_log 3 "Stage 3: Whisper ${whisper_model} for the ASR loss -> ${models_dir}/whisper/${whisper_model}.pt"
    rm -f "${marker}"
    ${train_cmd} "${log_dir}/stage3.log" python -m fcodec.bin.fetch_whisper "${whisper_model}" --out-dir "${models_dir}/whisper"
    mark_done "${marker}" "${signature}" "${models_dir}/whisper/${whisper_model}.pt"
  fi
  for spec in "${judge_specs[@]}"; do
    judge_is_file "${spec}" || fetch_judge 3 "${spec}"
  done
  # The NISQA MOS judge's weights (fetch_mos: the published file, sha256 checked, written atomically). Offline
  # without a local copy they stay missing, and stage 8 scores without that judge (one line says so).
  if [[ " ${mos_judges} " == *" nisqa "* ]]; then
    signature="nisqa weights=${nisqa_weights}"
    status=$(stage_status "${nisqa_marker}" "${signature}")
    if [ "${status}" = "done" ]; then
      stage_log 3 "Stage 3: the NISQA weights ${nisqa_file} are up to date (${nisqa_marker}); skipped"
    else
      stage_log 3 "Stage 3: NISQA v2.0 weights (${nisqa_weights}), a MOS judge of stage 8 -> ${nisqa_file}"
      rm -f "${nisqa_marker}"
      fetch_args=()
      case "${nisqa_weights}" in
        fetch) ;;
        offline) fetch_args+=(--offline) ;;
        *) fetch_args+=(--from "${nisqa_weights}") ;;
      esac
      ${train_cmd} "${log_dir}/stage3.log" python -m fcodec.bin.fetch_mos nisqa --out-dir "${models_dir}/mos" "${fetch_args[@]}"
      if [ -f "${nisqa_file}" ]; then
        mark_done "${nisqa_marker}" "${signature}" "${nisqa_file}"
      else
        stage_log 3 "Stage 3: no NISQA weights (--nisqa-weights offline, no local copy): stage 8 scores without the NISQA judge"
      fi
    fi
  fi
fi

# Training stages 4-6 share one body. Training stage <k> (recipe stage <number>) trains with <config>, starting
# from <init> (a model folder), whose stage marker <init_marker> is part of the signature: when the model it
# starts from changes, the stage trains again from scratch. So does a finished stage whose config, options or
# data changed (resuming a finished run would do nothing). A stage that died half way (no marker) is rerun and
# continues from its newest checkpoint (fcodec.bin.train resumes by itself); --force true starts it afresh.
train_stage() {
  local number=$1 k=$2 config=$3 init=$4 init_marker=$5
  local dir=${exp_dir}/stage${k}
  local marker=${dir}/.train.done
  local models_dir=${data_dir}/models
  local bpe_model=${data_dir}/lang_bpe_${bpe_vocab_size}/bpe.model
  local whisper=${models_dir}/whisper/${whisper_model}.pt
  [ -f "${config}" ] || die "training config ${config} not found (see --train-stage${k}-config)"
  [ -f "${init_marker}" ] || die "stage ${number} starts from ${init}, which is not finished (${init_marker} is missing)"
  local signature status
  signature="train config=$(fingerprint "${config}") args=${train_args} init=${init}"
  signature+=" init_marker=$(fingerprint "${init_marker}") cuts=$(fingerprint "${data_dir}/cuts/.cuts.done")"
  signature+=" assets=$(fingerprint "${data_dir}/lang_bpe_${bpe_vocab_size}/.bpe.done" "${models_dir}/whisper/.whisper.done")"
  status=$(stage_status "${marker}" "${signature}")
  if [ "${status}" = "done" ]; then
    stage_log "${number}" "Stage ${number}: ${dir} is up to date (${marker}); skipped"
    return
  fi
  if [ -f "${marker}" ] || [ "${force}" = true ]; then
    stage_log "${number}" "Stage ${number}: training ${dir} from scratch"
    rm -rf "${dir}"
  elif [ -d "${dir}/checkpoints" ]; then
    stage_log "${number}" "Stage ${number}: continuing ${dir} from its newest checkpoint"
  else
    stage_log "${number}" "Stage ${number}: training ${dir} with ${config}, from ${init}"
  fi
  local launcher device extra
  read -r -a extra <<< "${train_args}"
  if [ "${ngpu}" -gt 1 ] || [ "${num_nodes}" -gt 1 ]; then
    launcher=(python -m torch.distributed.run --nproc-per-node "$(( ngpu > 0 ? ngpu : 1 ))" --nnodes "${num_nodes}")
    if [ "${num_nodes}" -gt 1 ]; then
      [ -n "${rdzv_endpoint}" ] || die "--num-nodes ${num_nodes} needs --rdzv-endpoint host:port (the same on every machine)"
      launcher+=(--rdzv-backend c10d --rdzv-endpoint "${rdzv_endpoint}" --rdzv-id "fcodec-stage${k}")
    else
      launcher+=(--standalone)
    fi
  else
    launcher=(python)
  fi
  device=cuda
  [ "${ngpu}" -eq 0 ] && device=cpu
  ${cuda_cmd} --gpu "${ngpu}" --name "train_stage${k}" "${log_dir}/stage${number}.log" \
    "${launcher[@]}" -m fcodec.bin.train --config "${config}" --exp-dir "${dir}" \
      "model.init_from=${init}" "data.train_cuts=${data_dir}/cuts/train.jsonl.gz" \
      "data.dev_cuts=${data_dir}/cuts/dev.jsonl.gz" "assets.whisper=${whisper}" "assets.bpe_model=${bpe_model}" \
      "train.device=${device}" "${extra[@]}"
  mark_done "${marker}" "${signature}" "${dir}/best/config.json" "${dir}/best/model.safetensors" \
    -- "${dir}/train_summary.json"
}

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  train_stage 4 1 "${train_stage1_config}" "${data_dir}/models/codec" "${data_dir}/models/codec/.codec.done"
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  train_stage 5 2 "${train_stage2_config}" "${exp_dir}/stage1/best" "${exp_dir}/stage1/.train.done"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  train_stage 6 3 "${train_stage3_config}" "${exp_dir}/stage2/best" "${exp_dir}/stage2/.train.done"
fi

# Stages 7 and 8 evaluate "stage0" (the pretrained codec that training started from, with --decode-stage0 true)
# and the exported model of every training stage that has finished; a stage not trained yet is left out.
eval_names=()
eval_models=()
eval_markers=()
if [ "${decode_stage0}" = true ]; then
  eval_names+=(stage0); eval_models+=("${data_dir}/models/codec"); eval_markers+=("${data_dir}/models/codec/.codec.done")
fi
for k in 1 2 3; do
  eval_names+=("stage${k}"); eval_models+=("${exp_dir}/stage${k}/best"); eval_markers+=("${exp_dir}/stage${k}/.train.done")
done

# The test sets: --test-sets, or every test set the data config names; each must have its cuts from stage 2.
eval_test_sets() {
  local names=${test_sets} name
  if [ -z "${names}" ]; then
    [ -f "${data_config}" ] || die "data config ${data_config} not found (see --data-config)"
    names=$(python -c 'import sys; from fcodec.data.data_config import load_data_config
print(" ".join(load_data_config(sys.argv[1]).test_names))' "${data_config}")
  fi
  [ -n "${names}" ] || die "no test sets to evaluate (see --test-sets and ${data_config})"
  for name in ${names}; do
    [ -f "${data_dir}/cuts/${name}.jsonl.gz" ] || die "test set ${name}: ${data_dir}/cuts/${name}.jsonl.gz not found (stage 2 writes it)"
  done
  echo "${names}"
}

eval_device=cpu
eval_gpus=0
if [ "${ngpu}" -gt 0 ]; then
  eval_device=cuda
  eval_gpus=1
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
  read -r -a sets <<< "$(eval_test_sets)"
  decoded=0
  for i in "${!eval_names[@]}"; do
    name=${eval_names[$i]} model=${eval_models[$i]} model_marker=${eval_markers[$i]}
    if [ ! -f "${model_marker}" ]; then
      stage_log 7 "Stage 7: ${name}: ${model} is not there (${model_marker} is missing: its stage has not finished); not decoded"
      continue
    fi
    decoded=$(( decoded + 1 ))
    # one signature for every test set of this model; max_duration and threads are not in it: batching does not
    # change what is decoded
    signature="decode model=$(fingerprint "${model_marker}") streaming=${decode_streaming}"
    signature+=" cuts=$(fingerprint "${data_dir}/cuts/.cuts.done")"
    todo=()
    for set_name in "${sets[@]}"; do
      dir=${exp_dir}/${name}/decode/${set_name}
      marker=${dir}/.decode.done
      status=$(stage_status "${marker}" "${signature}")
      if [ "${status}" = "done" ]; then
        stage_log 7 "Stage 7: ${dir} is up to date (${marker}); skipped"
        continue
      fi
      if [ "${status}" = partial ]; then
        rm -f "${dir}/.done"  # the decoder rebuilds the manifests from its progress journal
      elif [ -f "${marker}" ] || [ "${force}" = true ]; then
        rm -rf "${dir}"       # other model, settings or cuts: from scratch (a run that died half way continues)
      fi
      todo+=("${set_name}")
    done
    [ ${#todo[@]} -gt 0 ] || continue
    stage_log 7 "Stage 7: decoding ${todo[*]} with ${name} (${model}) -> ${exp_dir}/${name}/decode"
    cuts=()
    for set_name in "${todo[@]}"; do cuts+=("${data_dir}/cuts/${set_name}.jsonl.gz"); done
    extra=()
    [ "${decode_streaming}" = true ] && extra+=(--streaming)
    ${decode_cmd} --gpu "${eval_gpus}" --num-threads "${nj}" --name "decode_${name}" "${log_dir}/stage7.log" \
      python -m fcodec.bin.decode --model "${model}" --cuts "${cuts[@]}" --out-dir "${exp_dir}/${name}/decode" \
        --device "${eval_device}" --max-duration "${decode_max_duration}" --num-threads "${decode_num_threads}" \
        --restart-on-change "${extra[@]}"
    for set_name in "${todo[@]}"; do
      dir=${exp_dir}/${name}/decode/${set_name}
      # the tokens and the audio are what scoring reads (folders that stay empty when every cut failed);
      # summary.json holds timings, .done a date
      mkdir -p "${dir}/tokens" "${dir}/wav"
      mark_done "${dir}/.decode.done" "${signature}" "${dir}/recon_cuts.jsonl.gz" "${dir}/token_cuts.jsonl.gz" \
        "${dir}/failed.tsv" "${dir}/tokens" "${dir}/wav" -- "${dir}/summary.json" "${dir}/.done"
    done
  done
  [ "${decoded}" -gt 0 ] || die "stage 7: no model to decode: no training stage has finished and --decode-stage0 is ${decode_stage0}"
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
  read -r -a sets <<< "$(eval_test_sets)"
  # Each judge: its file (a published one fetched here when stage 3 has not), its name, and what identifies its
  # weights in the score markers (a fetched judge: its marker, which holds the file's content hash; a file: that hash)
  judge_files=()
  judge_labels=()
  judge_ids=()
  for spec in "${judge_specs[@]}"; do
    if judge_is_file "${spec}"; then
      judge_ids+=("file=$(content_hash "${spec}")")
    else
      fetch_judge 8 "${spec}"
      judge_ids+=("fetched=$(fingerprint "$(judge_marker "${spec}")")")
    fi
    judge_files+=("$(judge_path "${spec}")")
    judge_labels+=("$(judge_label "${spec}")")
  done
  read -r -a extra <<< "${score_args}"
  score_markers=()
  for set_name in "${sets[@]}"; do  # stage0 first: the originals' transcripts are cached for the other stages
    for name in "${eval_names[@]}"; do
      decode_marker=${exp_dir}/${name}/decode/${set_name}/.decode.done
      if [ ! -f "${decode_marker}" ]; then
        stage_log 8 "Stage 8: ${name}/${set_name} has not been decoded (${decode_marker} is missing); not scored"
        continue
      fi
      # One marker per judge: a judge added or changed is scored alone, the others' scores stand. The judges that
      # need it are scored in one call, which computes the signal metrics (the same for every judge) once.
      todo_files=()
      todo_labels=()
      todo_dirs=()
      todo_signatures=()
      for j in "${!judge_specs[@]}"; do
        dir=${exp_dir}/${name}/score/${judge_labels[$j]}/${set_name}
        marker=${dir}/.score.done
        signature="score judge=${judge_specs[$j]} ${judge_ids[$j]} args=${score_args}"
        signature+=" mos=${mos_judges} nisqa=$(fingerprint "${nisqa_marker}")"
        signature+=" decode=$(fingerprint "${decode_marker}") cuts=$(fingerprint "${data_dir}/cuts/.cuts.done")"
        score_markers+=("${marker}")
        status=$(stage_status "${marker}" "${signature}")
        if [ "${status}" = "done" ]; then
          stage_log 8 "Stage 8: ${dir} is up to date (${marker}); skipped"
          continue
        fi
        rm -rf "${dir}"
        todo_files+=("${judge_files[$j]}")
        todo_labels+=("${judge_labels[$j]}")
        todo_dirs+=("${dir}")
        todo_signatures+=("${signature}")
      done
      [ ${#todo_files[@]} -gt 0 ] || continue
      stage_log 8 "Stage 8: scoring ${name}/${set_name} with the ASR judges ${todo_labels[*]} -> ${exp_dir}/${name}/score/<judge>/${set_name}"
      ${decode_cmd} --gpu "${eval_gpus}" --num-threads "${nj}" --name "score_${name}" "${log_dir}/stage8.log" \
        python -m fcodec.bin.score --ref-cuts "${data_dir}/cuts/${set_name}.jsonl.gz" \
          --decode-dir "${exp_dir}/${name}/decode/${set_name}" --out-dir "${exp_dir}/${name}/score" \
          --asr-models "${todo_files[@]}" --cache-dir "${asr_cache_dir}" --nj "${nj}" --device "${eval_device}" \
          --mos-judges "${mos_judge_list[@]}" --nisqa-model "${nisqa_file}" "${extra[@]}"
      for i in "${!todo_dirs[@]}"; do
        dir=${todo_dirs[$i]}
        # RESULTS.md reads summary.json; the rest is for people
        mark_done "${dir}/.score.done" "${todo_signatures[$i]}" "${dir}/summary.json" -- "${dir}/utterances.tsv" \
          "${dir}/failed.tsv" "${dir}/.done"
      done
    done
  done
  [ ${#score_markers[@]} -gt 0 ] || die "stage 8: nothing to score: run stage 7 first"
  # RESULTS.md is regenerated from the score summaries of the judges of --asr-judges under ${exp_dir} whenever one
  # of them changed (a judge no longer listed keeps its files but leaves the tables)
  plot=results.png
  [[ "${results}" == */* ]] && plot=${results%/*}/results.png
  marker=${exp_dir}/.report.done
  signature="report results=${results} judges=${judge_labels[*]} scores=$(fingerprint "${score_markers[@]}")"
  status=$(stage_status "${marker}" "${signature}")
  if [ "${status}" = "done" ]; then
    stage_log 8 "Stage 8: ${results} is up to date (${marker}); skipped"
  else
    stage_log 8 "Stage 8: ${results} and ${plot} from ${exp_dir}/stage*/score/{$(IFS=,; echo "${judge_labels[*]}")}/"
    ${train_cmd} "${log_dir}/stage8.log" python -m fcodec.bin.report --exp-dir "${exp_dir}" --out "${results}" \
      --plot "${plot}" --judges "${judge_labels[@]}"
    mark_done "${marker}" "${signature}" "${results}" "${plot}"
  fi
fi

log "Successfully finished stages ${stage}-${stop_stage}. [elapsed=${SECONDS}s]"
