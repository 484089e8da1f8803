#!/usr/bin/env bash
# shellcheck disable=SC2034  # options are read indirectly (${!name}) and by utils/parse_options.sh
# codec.sh: the driver every fcodec recipe shares (ESPnet's TEMPLATE/<task>/<task>.sh). A recipe folder owns
# run.sh ("./codec.sh <its defaults> "$@""), conf/data.yaml and local/data.sh (stages 0-1); stages 2-8 are the same
# for every recipe. Read it top to bottom: the options, their checks, then one `if` block per stage.
# When a stage is skipped, redone or stops the run is written once, in docs/recipe.md ("Reruns"): every stage
# asks stage_begin (utils/common.sh) and marks itself done with stage_end; nothing is ever deleted.
set -euo pipefail

{ [ -f utils/common.sh ] && [ -f local/data.sh ]; } || { echo "$0: run me from a recipe folder" \
  "(egs/<corpus>/codec1): utils/ and local/data.sh must be there" >&2; exit 1; }
# shellcheck disable=SC1091
. utils/common.sh
SECONDS=0 _run_args="$*" _self=${BASH_SOURCE[0]}
# Messages name the run.sh the user ran (run.sh passes it), else this script.
_prog=${FCODEC_RECIPE_SCRIPT:-./${0##*/}} && unset FCODEC_RECIPE_SCRIPT

# Every option, with its default. This block is also the --help text ("# -- x" is a heading; an indented
# "# ..." line continues the line above).
# <options>
# -- stages
stage=0                           # first stage to run
stop_stage=100                    # last stage to run
force=false                       # true: redo the selected stages; what they made before is set aside
                                  # (<dir>.old.<time>)
nj=4                              # parallel jobs (audio reading, lhotse, sentencepiece, signal metrics)
# -- folders (relative to the recipe folder)
dl_dir=download                   # where stage 0 puts (or finds) the corpora
data_dir=data                     # stages 1-3 write manifests/, cuts/, lang_bpe_<vocab>/, models/ and log/ here
# -- stage 2: cuts
data_config=conf/data.yaml        # which manifests make train, dev and the test sets; the language of each corpus
hours="zh=100 en=100"             # training hours per language of the data config, LANG=HOURS ("all": everything)
dev_utts=200                      # dev utterances per language ("all": everything)
num_test_utts=2000                # utterances per test set ("all": everything)
min_utt_duration=0.5              # utterances shorter than this (seconds) are bad input, in every split
max_utt_duration=20               # utterances longer than this (seconds) are left out of train and dev
audio_check=full                  # full: decode every sample of every recording; header: only open each file
seed=0                            # seed of every random choice in the data stages
# -- stage 3: BPE model and model assets (into <data_dir>/models)
bpe_vocab_size=5000               # sentencepiece vocabulary size (writes <data_dir>/lang_bpe_<size>/bpe.model)
bpe_model_type=bpe                # bpe or unigram
bpe_character_coverage=0.9995     # share of character occurrences that get a piece of their own (rarer: bytes)
pretrained_codec=lucadellalib/focalcodec_50hz_2k_causal  # codec training starts from: repo id or folder;
                                  # tiny: random tiny
whisper_model=small               # Whisper of the ASR loss: a published name; tiny-random: a random tiny one
nisqa_weights=fetch               # NISQA MOS judge's weights (<data_dir>/models/mos/nisqa.tar): fetch (shared/
                                  # copy beside the repo, else download), offline (local copies only; none: no
                                  # NISQA judge), or a nisqa.tar
# -- stages 4-6: training, one folder per frame rate: <exp_dir>/train_50hz, train_25hz, train_12.5hz
exp_dir=exp                       # where training, decoding and scoring write
tag=""                            # a variant's name: stages 4-8 write to <exp_dir>/<tag>/ instead (its RESULTS.md
                                  # too)
train_50hz_config=conf/train_50hz.yaml  # training config(s) of stage 4, merged in order
train_25hz_config=conf/train_25hz.yaml  # training config(s) of stage 5 (grown to 25 Hz), merged in order
train_12_5hz_config="conf/train_25hz.yaml conf/train_12.5hz.yaml"  # stage 6 (grown to 12.5 Hz): the 25 Hz file
                                  # and its changes
train_args=""                     # extra key=value overrides for every training stage, e.g. "train.max_steps=100"
ngpu=1                            # GPUs per machine: 0 = CPU, 1 = one process, N > 1 = torchrun with N processes
num_nodes=1                       # machines (torchrun --nnodes); more than 1 needs --rdzv-endpoint, run on each
rdzv_endpoint=""                  # host:port of the torchrun rendezvous when num_nodes > 1
# -- stages 7-8: decoding and scoring (each trained model, and the pretrained codec as "pretrained")
test_sets=""                      # test sets to decode and score (default: every test set of --data-config)
decode_pretrained=true            # also decode and score the pretrained codec: RESULTS.md's baseline row
decode_streaming=false            # true: decode chunk by chunk (80 ms), as live streaming would (the same tokens)
decode_max_duration=100           # seconds of padded audio per decoding batch (the results do not depend on it)
decode_num_threads=0              # torch CPU threads of a decoding job (0: 1 beside a GPU, half the cores on a CPU)
posthoc_presets="50hz_keep2_275bps 50hz_6bit_300bps 50hz_keep4_137.5bps 50hz_3bit_150bps"  # post-hoc
                                  # bottlenecks (no training; docs/evaluation.md): the equal-bitrate baselines of
                                  # the 25 and 12.5 Hz models; "" for none
posthoc_models="pretrained train_50hz"  # the models decoded and scored through each preset, as
                                  # <model>+posthoc_<preset>; bit presets calibrate on <data_dir>/cuts/train.jsonl.gz
asr_judges="small large-v3"       # Whisper judges of stage 8: published names (fetched by stage 3), .pt files, or
                                  # tiny-random[-seed<N>]; small = the papers' judge
mos_judges="nisqa dnsmos"         # MOS judges of stage 8 on original and reconstruction: nisqa, dnsmos
                                  # (speechmos), utmos (only a local torch.hub copy); "" for none
score_args=""                     # extra options for fcodec.bin.score, e.g. "--zh-prompt 以下是普通话的句子。"
results=""                        # stage 8's results table, its plot beside it (default: RESULTS.md; tagged:
                                  # <exp_dir>/<tag>/RESULTS.md)
# </options>
# The recipe's own options (the "# <corpus-options>" block of local/data.sh) are accepted by name and passed on to
# local/data.sh, which declares them with their defaults and parses them itself: only their names are read here.
_corpus_options=$(options_in local/data.sh corpus-options)
for _name in ${_corpus_options}; do
  [[ "${_name}" =~ ^[a-z][a-z0-9_]*$ ]] && ! options_in "${_self}" | grep -qx "${_name}" \
    || die "local/data.sh: corpus option '${_name}' must be lower case and not an option of codec.sh"
  unset "${_name}"  # only what the command line (or --config) gives is passed on
done
option_names="$(options_in "${_self}") ${_corpus_options}"

print_help() {
  local out=${exp_dir}${tag:+/${tag}}
  cat <<EOF
Usage: ${_prog} [--name value ...]
  ("--stop-stage" and "--stop_stage" both work; paths are relative to the recipe folder)

Stages (docs/recipe.md):
   0  $(stage_doc 0)
   1  $(stage_doc 1)  -> ${data_dir}/manifests
   2  cuts: 16 kHz, checked, normalised, language-tagged; training mix by --hours, dev, test sets
      -> ${data_dir}/cuts
   3  BPE model of the training text; the pretrained codec, the Whisper of the ASR loss, the ASR judges, NISQA
      -> ${data_dir}/lang_bpe_<vocab>, ${data_dir}/models
   4  train 50 Hz, 550 bps, from the pretrained codec              -> ${out}/train_50hz
   5  train 25 Hz, 275 bps, grown from stage 4                      -> ${out}/train_25hz
   6  train 12.5 Hz, 137.5 bps, grown from stage 5                  -> ${out}/train_12.5hz
   7  decode the test sets with each trained model and the pretrained codec  -> ${out}/<model>/decode/<test_set>
      and with --posthoc-models through each --posthoc-presets
      -> ${out}/<model>+posthoc_<preset>/decode/<test_set>
   8  score them: each ASR judge, signal metrics, MOS judges, speaker similarity
      -> ${out}/<model>/score/<judge>/<test_set>, $(results_file) and its plot

Options (the values shown are this recipe's defaults, with any option given before --help applied):
EOF
  options_help "${_self}"
  options_help local/data.sh corpus-options
  cat <<EOF

    --config FILE                      read options from FILE (bash: name=value lines) before the command line
    --help                             this text
Stages log to ${data_dir}/log/stage<N>.log. A rerun skips what is up to date and redoes what changed; nothing is
deleted (docs/recipe.md, "Reruns: skip, resume, never delete").
EOF
}
stage_doc() { sed -n "s/^#   stage $1: //p" local/data.sh | head -n 1; }
results_file() {
  if [ -n "${tag}" ]; then echo "${results:-${exp_dir}/${tag}/RESULTS.md}"; else echo "${results:-RESULTS.md}"; fi
}

# shellcheck disable=SC1091
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Error: positional arguments are not accepted: $*"; log "See ${_prog} --help"; exit 2; }

# Option values are checked before anything runs: a clear error now, not half way through a stage.
check_option stage int:0:8
check_option stop_stage int:0  # may go past 8: the default, 100, means "to the end"
[ "${stop_stage}" -ge "${stage}" ] \
  || option_error "--stop-stage ${stop_stage} is before --stage ${stage}: no stage would run"
for name in nj bpe_vocab_size num_nodes; do check_option "${name}" int:1; done
for name in dl_dir data_dir data_config exp_dir pretrained_codec whisper_model asr_judges; do
  check_option "${name}" path
done
for name in dev_utts num_test_utts; do check_option "${name}" int:1 all; done
for name in ${posthoc_models}; do
  [[ "${name}" =~ ^(pretrained|train_(50|25|12\.5)hz)$ ]] || option_error "--posthoc-models: '${name}' is not" \
    "a model of stages 7-8 (pretrained, train_50hz, train_25hz, train_12.5hz)"
done
for name in seed ngpu decode_num_threads; do check_option "${name}" int:0; done
check_option min_utt_duration number0 && check_option max_utt_duration number all
check_option decode_max_duration number
check_option audio_check word full header && check_option bpe_model_type word bpe unigram
check_option bpe_character_coverage number:1
if [ -n "${tag}" ] && { ! [[ "${tag}" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] \
    || [[ "${tag}" =~ ^(train_.*|pretrained|asr_cache)$ ]]; }; then
  option_error "--tag must be a folder name (letters, digits, '.', '_', '-'; not train_*, pretrained or" \
    "asr_cache), got '${tag}'"
fi
launcher=(python)  # training: one process, or torchrun (DDP) on several GPUs or machines
if [ "${ngpu}" -gt 1 ] || [ "${num_nodes}" -gt 1 ]; then
  [ "${num_nodes}" -eq 1 ] || [ -n "${rdzv_endpoint}" ] \
    || option_error "--num-nodes ${num_nodes} needs --rdzv-endpoint host:port (the same on every machine)"
  rdzv=(--standalone) && [ "${num_nodes}" -gt 1 ] && rdzv=(--rdzv-backend c10d --rdzv-endpoint "${rdzv_endpoint}")
  launcher=(python -m torch.distributed.run --nproc-per-node "$(( ngpu > 0 ? ngpu : 1 ))" --nnodes "${num_nodes}"
    "${rdzv[@]}")
fi

# Where things go. exp_dir is always the main run's folder; run_dir is where this run's stages 4-8 write: exp_dir,
# or <exp_dir>/<tag> for a --tag variant. The layout (<run_dir>/<model>/decode|score/<judge>/<test_set>, asr_cache,
# the post-hoc model folders) is the one fcodec/layout/experiment.py owns for the Python side: change the two
# together.
run_dir=${exp_dir}${tag:+/${tag}}
results=$(results_file)
asr_cache_dir=${exp_dir}/asr_cache  # the originals' transcripts do not depend on the codec: shared by every tag
log_dir=${data_dir}/log nisqa_file=${data_dir}/models/mos/nisqa.tar
lang_dir=${data_dir}/lang_bpe_${bpe_vocab_size} codec_dir=${data_dir}/models/codec
whisper_dir=${data_dir}/models/whisper

# shellcheck disable=SC1091
. ./path.sh
# shellcheck source=cmd.sh
. ./cmd.sh
python -c "import fcodec" 2>/dev/null || die "python ($(command -v python || echo 'not found')) cannot import" \
  "fcodec; run tools/install.sh in the repository, which makes tools/venv (path.sh activates it)"
# --hours against the data config's languages, the ASR judges; the test sets of stages 7-8 (default: the config's)
checked=$(python -m fcodec.bin.recipe_options --data-config "${data_config}" --hours "${hours}" \
  --asr-judges "${asr_judges}" --whisper-dir "${whisper_dir}" --mos-judges "${mos_judges}" \
  --nisqa-weights "${nisqa_weights}" --posthoc-presets "${posthoc_presets}" 2>&1) \
  || option_error "$(tail -n 1 <<< "${checked}")"
{ read -r config_test_sets; read -r -a judge_names; read -r -a judge_files; } < <(tail -n 3 <<< "${checked}")
test_sets=${test_sets:-${config_test_sets}}
read -r -a sets <<< "${test_sets}" && read -r -a judges <<< "${asr_judges}" && read -r -a mos <<< "${mos_judges}"

# fetch_whispers NUMBER NAME...: the published Whispers among NAMEs (not .pt files) into <data_dir>/models/whisper,
# each a step of stage NUMBER with a marker of its own.
fetch_whispers() {
  local number=$1 name
  for name in "${@:2}"; do
    [[ "${name}" == */* || "${name}" == *.pt ]] && continue
    if stage_begin "${number}" file "${whisper_dir}/.whisper_${name}.done" \
        "Whisper ${name} -> ${whisper_dir}/${name}.pt" "whisper ${name}"; then
      ${train_cmd} "${log_dir}/stage${number}.log" python -m fcodec.bin.fetch_whisper "${name}" \
        --out-dir "${whisper_dir}"
      stage_end "${whisper_dir}/${name}.pt"
    fi
  done
}

# train NUMBER RATE INIT: stages 4-6, one training at RATE into <run_dir>/train_<RATE>, starting from the model
# folder INIT (the pretrained codec, or the exported best/ of the stage before). A stage that died half way
# continues from its newest checkpoint (fcodec.bin.train resumes by itself).
train() {
  local number=$1 rate=$2 init=$3 dir=${run_dir}/train_$2 config_var=train_${2//./_}_config
  local init_marker=${init%/best}/.train.done config configs config_args=() extra rdzv_id=() device=cuda
  [ "${number}" -eq 4 ] && init_marker=${init}/.codec.done
  [ -f "${init_marker}" ] \
    || die "stage ${number} starts from ${init}, which is not finished (${init_marker} is missing)"
  read -r -a configs <<< "${!config_var}"
  for config in "${configs[@]}"; do
    [ -f "${config}" ] || die "training config ${config} not found (see --${config_var//_/-})"
    config_args+=(--config "${config}")
  done
  local config_fp init_fp cuts_fp assets_fp
  config_fp=$(fingerprint "${configs[@]}") init_fp=$(fingerprint "${init_marker}")
  cuts_fp=$(fingerprint "${data_dir}/cuts/.cuts.done")
  assets_fp=$(fingerprint "${lang_dir}/.bpe.done" "${whisper_dir}/.whisper_${whisper_model}.done")
  if stage_begin "${number}" keep "${dir}/.train.done" "training ${rate} with ${configs[*]}, from ${init} -> ${dir}" \
      "train config=${config_fp} args=${train_args} init=${init} init_marker=${init_fp}" \
      "cuts=${cuts_fp} assets=${assets_fp}"; then
    read -r -a extra <<< "${train_args}"
    [ "${num_nodes}" -gt 1 ] && rdzv_id=(--rdzv-id "fcodec-train_${rate}")
    [ "${ngpu}" -eq 0 ] && device=cpu
    ${cuda_cmd} --gpu "${ngpu}" --name "train_${rate}" "${log_dir}/stage${number}.log" \
      "${launcher[@]}" "${rdzv_id[@]}" -m fcodec.bin.train "${config_args[@]}" --exp-dir "${dir}" \
        "model.init_from=${init}" \
        "data.train_cuts=${data_dir}/cuts/train.jsonl.gz" "data.dev_cuts=${data_dir}/cuts/dev.jsonl.gz" \
        "assets.whisper=${whisper_dir}/${whisper_model}.pt" "assets.bpe_model=${lang_dir}/bpe.model" \
        "train.device=${device}" "${extra[@]}"
    stage_end "${dir}/best/config.json" "${dir}/best/model.safetensors" -- "${dir}/train_summary.json"
  fi
}

# trained RATE: the exported model of the training at RATE that a later stage grows from: this run's, or, for a
# --tag variant started at a later stage, the main run's.
trained() {
  if [ -n "${tag}" ] && [ ! -f "${run_dir}/train_$1/.train.done" ]; then
    echo "${exp_dir}/train_$1/best"
  else
    echo "${run_dir}/train_$1/best"
  fi
}

log "${_prog} ${_run_args} (stages ${stage}-${stop_stage}${tag:+, tag ${tag}: ${run_dir}})"
data_args=(--nj "${nj}" --dl-dir "${dl_dir}" --manifest-dir "${data_dir}/manifests" --force "${force}")
for name in ${_corpus_options}; do
  [ -z "${!name+x}" ] || data_args+=("--${name//_/-}" "${!name}")
done

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  log "Stage 0: $(stage_doc 0) (local/data.sh)"
  ${train_cmd} "${log_dir}/stage0.log" local/data.sh --stage 0 --stop-stage 0 "${data_args[@]}"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "Stage 1: $(stage_doc 1) (local/data.sh)"
  ${train_cmd} "${log_dir}/stage1.log" local/data.sh --stage 1 --stop-stage 1 "${data_args[@]}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  cuts_dir=${data_dir}/cuts
  read -r -a hours_args <<< "${hours}"
  config_fp=$(fingerprint "${data_config}") manifests_fp=$(fingerprint "${data_dir}"/manifests/.*.done)
  # the signature keeps the words of the options before their rename (min/max_duration): finished cuts stay finished
  if stage_begin 2 data "${cuts_dir}/.cuts.done" "cuts -> ${cuts_dir}" \
      "make_cuts config=${config_fp} hours=${hours} dev_utts=${dev_utts}" \
      "num_test_utts=${num_test_utts} min_duration=${min_utt_duration} max_duration=${max_utt_duration}" \
      "audio_check=${audio_check} seed=${seed} manifests=${manifests_fp}"; then
    ${train_cmd} --num-threads "${nj}" "${log_dir}/stage2.log" \
      python -m fcodec.bin.make_cuts --config "${data_config}" --manifest-dir "${data_dir}/manifests" \
        --out-dir "${cuts_dir}" --hours "${hours_args[@]}" --dev-utts "${dev_utts}" \
        --num-test-utts "${num_test_utts}" --min-utt-duration "${min_utt_duration}" \
        --max-utt-duration "${max_utt_duration}" \
        --audio-check "${audio_check}" --seed "${seed}" --nj "${nj}" --keep-existing "${stage_partial}"
    mapfile -t outputs < <(find "${cuts_dir}" -type f ! -name '.*' | sort)
    stage_end "${outputs[@]}"
  fi
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  cuts_fp=$(fingerprint "${data_dir}/cuts/.cuts.done")
  if stage_begin 3 data "${lang_dir}/.bpe.done" \
      "sentencepiece ${bpe_model_type}, ${bpe_vocab_size} pieces -> ${lang_dir}" \
      "train_bpe vocab_size=${bpe_vocab_size} model_type=${bpe_model_type}" \
      "character_coverage=${bpe_character_coverage} cuts=${cuts_fp}"; then
    ${train_cmd} --num-threads "${nj}" "${log_dir}/stage3.log" \
      python -m fcodec.bin.train_bpe --cuts "${data_dir}/cuts/train.jsonl.gz" --lang-dir "${lang_dir}" \
        --vocab-size "${bpe_vocab_size}" --model-type "${bpe_model_type}" \
        --character-coverage "${bpe_character_coverage}" --nj "${nj}"
    stage_end "${lang_dir}/bpe.model" "${lang_dir}/bpe.vocab" "${lang_dir}/train_text.txt"
  fi
  # the model assets: fetched here, with the other downloads, so that training and scoring need no network
  if stage_begin 3 data "${codec_dir}/.codec.done" "the pretrained codec (${pretrained_codec}) -> ${codec_dir}" \
      "codec source=${pretrained_codec}"; then
    tool=(fetch_codec "${pretrained_codec}") && [ "${pretrained_codec}" = tiny ] && tool=(make_tiny_codec)
    ${train_cmd} "${log_dir}/stage3.log" python -m "fcodec.bin.${tool[0]}" "${tool[@]:1}" --out "${codec_dir}"
    stage_end "${codec_dir}/config.json" "${codec_dir}/model.safetensors"
  fi
  fetch_whispers 3 "${whisper_model}" "${judges[@]}"
  if [[ " ${mos_judges} " == *" nisqa "* ]]; then
    # no marker: each run checks the sha256 of what is there (1 MB) and replaces a damaged copy; offline with no
    # copy, stage 8 goes without NISQA, saying so
    stage_log 3 "Stage 3: NISQA weights (${nisqa_weights}), a MOS judge of stage 8 -> ${nisqa_file} (sha256 checked)"
    case ${nisqa_weights} in
      fetch) fetch=() ;;
      offline) fetch=(--offline) ;;
      *) fetch=(--from "${nisqa_weights}") ;;
    esac
    ${train_cmd} "${log_dir}/stage3.log" \
      python -m fcodec.bin.fetch_mos nisqa --out-dir "${nisqa_file%/*}" "${fetch[@]}"
  fi
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  train 4 50hz "${codec_dir}"  # from the pretrained codec
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  train 5 25hz "$(trained 50hz)"  # grown from stage 4's model
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  train 6 12.5hz "$(trained 25hz)"  # grown from stage 5's model
fi

# Stages 7-8 evaluate the pretrained codec (as "pretrained") and every training stage that has finished, and
# each of --posthoc-models that is there through each preset, as a model of its own: models[i] is in
# model_dirs[i], through posthoc[i] ("" for none).
models=() model_dirs=() posthoc=()
if [ "${decode_pretrained}" = true ] && [ -f "${codec_dir}/.codec.done" ]; then
  models+=(pretrained) model_dirs+=("${codec_dir}") posthoc+=("")
fi
for rate in 50hz 25hz 12.5hz; do
  if [ -f "${run_dir}/train_${rate}/.train.done" ]; then
    models+=("train_${rate}") model_dirs+=("${run_dir}/train_${rate}/best") posthoc+=("")
  fi
done
read -r -a presets <<< "${posthoc_presets}"
for i in "${!models[@]}"; do
  [[ " ${posthoc_models} " == *" ${models[$i]} "* ]] || continue
  for preset in "${presets[@]}"; do
    models+=("${models[$i]}+posthoc_${preset}") model_dirs+=("${model_dirs[$i]}") posthoc+=("${preset}")
  done
done
for set_name in "${sets[@]}"; do
  [ "${stop_stage}" -lt 7 ] || [ -f "${data_dir}/cuts/${set_name}.jsonl.gz" ] \
    || die "test set ${set_name}: ${data_dir}/cuts/${set_name}.jsonl.gz not found (stage 2 writes it)"
done
eval_gpus=$(( ngpu > 0 )) eval_device=cpu && [ "${ngpu}" -gt 0 ] && eval_device=cuda
test_cuts=("${sets[@]/#/${data_dir}/cuts/}") && test_cuts=("${test_cuts[@]/%/.jsonl.gz}")

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
  [ ${#models[@]} -gt 0 ] || die "stage 7: no model to decode: no training stage has finished and" \
    "--decode-pretrained is ${decode_pretrained}"
  extra=() && [ "${decode_streaming}" = true ] && extra+=(--streaming)
  # one decoder process per post-hoc preset ("": the models as trained), each taking its models one after another
  presets=("")
  for preset in "${posthoc[@]}"; do
    [[ -z "${preset}" || " ${presets[*]} " == *" ${preset} "* ]] || presets+=("${preset}")
  done
  for preset in "${presets[@]}"; do
    group_models=() group_outs=() names=() posthoc_args=()
    [ -z "${preset}" ] \
      || posthoc_args=(--posthoc "${preset}" --posthoc-calibration-cuts "${data_dir}/cuts/train.jsonl.gz")
    for i in "${!models[@]}"; do
      [ "${posthoc[$i]}" = "${preset}" ] || continue
      out=${run_dir}/${models[$i]}/decode
      [ "${force}" = true ] && set_aside "${out}"
      for s in "${sets[@]}"; do
        trust_marker "${out}/${s}/.done" "${out}/${s}"/{recon_cuts.jsonl.gz,token_cuts.jsonl.gz,summary.json,failed.tsv}
      done
      log "Stage 7: decoding ${sets[*]} with ${models[$i]} (${model_dirs[$i]}) -> ${out}" \
        "(what is there already is kept)"
      group_models+=("${model_dirs[$i]}") group_outs+=("${out}") names+=("${models[$i]}")
    done
    [ ${#names[@]} -gt 0 ] || continue
    ${decode_cmd} --gpu "${eval_gpus}" --num-threads "${nj}" --name "decode" "${log_dir}/stage7.log" \
      python -m fcodec.bin.decode --model "${group_models[@]}" --out-dir "${group_outs[@]}" \
        --device "${eval_device}" \
        --cuts "${test_cuts[@]}" --max-duration "${decode_max_duration}" --num-threads "${decode_num_threads}" \
        --no-progress "${extra[@]}" "${posthoc_args[@]}" \
      || die "stage 7: decoding with ${names[*]} failed (see ${log_dir}/stage7.log); a folder holding another" \
             "model's or other settings' decode is kept: rerun with --force true to set it aside"
  done
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
  fetch_whispers 8 "${judges[@]}"  # a judge added since stage 3 ran
  read -r -a extra <<< "${score_args}"
  decode_dirs=()
  for set_name in "${sets[@]}"; do  # the pretrained codec first: the originals' transcripts are cached for the rest
    for name in "${models[@]}"; do
      decode_dir=${run_dir}/${name}/decode/${set_name}
      [ -f "${decode_dir}/.done" ] || { log "Stage 8: ${decode_dir} is not decoded (no .done); not scored"; continue; }
      decode_dirs+=("${decode_dir}")
      [ "${force}" = true ] && set_aside "${run_dir}/${name}/score"
      for j in "${judge_names[@]}"; do
        trust_marker "${run_dir}/${name}/score/${j}/${set_name}"/{.done,summary.json}
      done
      log "Stage 8: ${name}/${set_name} with ${judges[*]} -> ${run_dir}/${name}/score/<judge>/${set_name}"
    done
  done
  [ ${#decode_dirs[@]} -gt 0 ] || die "stage 8: nothing to score: run stage 7 first"
  # one process for every decode: the judges load once, and what is up to date is skipped before they load
  ${decode_cmd} --gpu "${eval_gpus}" --num-threads "${nj}" --name score "${log_dir}/stage8.log" \
    python -m fcodec.bin.score --ref-cuts "${test_cuts[@]}" --decode-dir "${decode_dirs[@]}" \
      --asr-judges "${judge_files[@]}" --cache-dir "${asr_cache_dir}" --nj "${nj}" --device "${eval_device}" \
      --mos-judges "${mos[@]}" --nisqa-model "${nisqa_file}" "${extra[@]}"
  # RESULTS.md and its plot, redone when a summary it reads changed (a --tag variant's compares it with the main
  # run, so the main run's summaries count too)
  plot=$(dirname "${results}")/results.png compare=() && [ -n "${tag}" ] && compare=(--compare-with "${exp_dir}")
  scores=$(python -m fcodec.bin.report --exp-dir "${run_dir}" --judges "${judge_names[@]}" "${compare[@]}" \
    --inputs-digest)
  if stage_begin 8 file "${run_dir}/.report.done" "the results table and plot of ${judge_names[*]} -> ${results}" \
      "report results=${results} judges=${judge_names[*]} ${compare[*]} scores=${scores}"; then
    ${train_cmd} "${log_dir}/stage8.log" python -m fcodec.bin.report --exp-dir "${run_dir}" --out "${results}" \
      --plot "${plot}" --judges "${judge_names[@]}" "${compare[@]}"
    stage_end "${results}" "${plot}"
  fi
fi

log "Successfully finished stages ${stage}-${stop_stage}. [elapsed=${SECONDS}s]"
