# shellcheck shell=bash
# utils/common.sh: helpers every recipe script sources (. utils/common.sh).
#
#   log MESSAGE...                    a time-stamped line on stderr, naming the script, line and function
#   die MESSAGE...                    log it and exit 1
#   options_in FILE [BLOCK]           the option names declared between "# <BLOCK>" and "# </BLOCK>" in FILE
#   options_help FILE [BLOCK]         one help line per option of the block: --name "value"  what it is
#   check_option NAME KIND [WORD...]  after parse_options.sh: stop with a clear error unless --NAME is of KIND
#   option_error MESSAGE...           "<script>: MESSAGE (see <script> --help)" on stderr, exit 1
#   fingerprint FILE...               a short hash of the files' contents (missing files count as empty)
#   content_hash PATH...              a short hash of what files and folders hold (how markers record outputs)
#   stage_status MARKER SIGNATURE     done | partial | todo: may a stage be skipped?
#   mark_done MARKER SIGNATURE OUTPUT... [-- REPORT...]  write the stage's marker, atomically, after it succeeded
#   set_aside PATH                    move PATH to PATH.old.<time> (nothing a stage made is ever deleted)
#   stage_log NUMBER MESSAGE...       log it, and append it to <log_dir>/stage<NUMBER>.log
#   stage_begin NUMBER POLICY MARKER WHAT SIGNATURE...  run the stage? (skip if up to date); stage_end marks it
#   trust_marker MARKER OUTPUT...     remove a tool's own completion MARKER when one of its OUTPUTs is missing
#
# What the stage helpers decide (skip, rebuild, redo, set aside, stop the run) is written once, in
# docs/recipe.md, "Reruns: skip, resume, never delete".
#
# Messages about the command line name the script as the user ran it: ${_prog} when the script sets it (codec.sh
# sets it to the run.sh the user typed), otherwise $0.

log() {
  local fname=${BASH_SOURCE[1]##*/}
  printf '%s (%s:%s:%s) %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${fname}" "${BASH_LINENO[0]}" \
    "${FUNCNAME[1]:-main}" "$*" >&2
}

die() {
  local fname=${BASH_SOURCE[1]##*/}
  printf '%s (%s:%s:%s) ERROR: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${fname}" "${BASH_LINENO[0]}" \
    "${FUNCNAME[1]:-main}" "$*" >&2
  exit 1
}

# The lines of FILE between "# <BLOCK>" and "# </BLOCK>" (BLOCK defaults to "options").
_options_lines() {
  local file=$1 block=${2:-options}
  awk -v opening="# <${block}>" -v closing="# </${block}>" '
    index($0, opening) == 1 { inside = 1; next }
    index($0, closing) == 1 { inside = 0 }
    inside { print }' "${file}"
}

options_in() {
  _options_lines "$@" | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'
}

# Help lines from the block: a "# -- heading" line prints as a heading; "name=default  # text" prints
# '--name "VALUE"' and the text; an indented "# more text" line under it continues the text. The value shown is
# the variable's current value, so a recipe's run.sh that passes its own defaults before --help shows those; for
# a variable that is not set (a local/data.sh option codec.sh lists but does not declare), the default as
# written, without its quotes: the help only shows it, nothing runs it.
options_help() {
  local line name shown text value
  while IFS= read -r line; do
    if [[ "${line}" =~ ^#\ --\ (.*)$ ]]; then
      printf '\n  %s\n' "${BASH_REMATCH[1]}"
    elif [[ "${line}" =~ ^[[:space:]]+#\ (.*)$ ]]; then
      printf '%41s%s\n' "" "${BASH_REMATCH[1]}"
    elif [[ "${line}" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      name=${BASH_REMATCH[1]} shown=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
      text=""
      [[ "${line}" == *"  # "* ]] && text=${line#*  # } && value=${value%%  # *}
      if [ -n "${!name+x}" ]; then
        value=${!name}
      else
        value=${value%"${value##*[![:space:]]}"}
        [[ "${value}" =~ ^\"(.*)\"$ || "${value}" =~ ^\'(.*)\'$ ]] && value=${BASH_REMATCH[1]}
      fi
      # "_" between digits is a decimal point (train_12_5hz_config: --train-12.5hz-config)
      while [[ "${shown}" =~ ^(.*[0-9])_([0-9].*)$ ]]; do shown="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"; done
      printf '    --%-34s %s\n' "${shown//_/-} \"${value}\"" "${text}"
    fi
  done < <(_options_lines "$@")
}

option_error() {
  echo "${_prog:-$0}: $* (see ${_prog:-$0} --help)" >&2
  exit 1
}

# check_option NAME KIND [WORD...]: the value of option NAME (the variable) must be of KIND, or one of the
# WORDs (e.g. "all", in any case); otherwise a message that names --NAME and the value, and exit 1. KIND:
#   int:MIN[:MAX]    an integer, at least MIN (and at most MAX)
#   number[:MAX]     a decimal number above 0 (and at most MAX): 0.5, 20, 1e-3
#   number0          a decimal number, 0 or above
#   word             only the WORDs
#   path             not empty (a folder or file; "" would put outputs at the root of the file system)
check_option() {
  local name=$1 kind=$2 word
  shift 2
  local value=${!name} option="--${name//_/-}"
  for word in "$@"; do
    [ "${value,,}" = "${word,,}" ] && return 0
  done
  local alternatives=""
  [ $# -eq 0 ] || alternatives=$(printf ' or "%s"' "$@")
  local number='^([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$'
  case "${kind}" in
    int:*)
      local range=${kind#int:} min max=""
      min=${range%%:*}
      [[ "${range}" == *:* ]] && max=${range#*:}
      if ! [[ "${value}" =~ ^-?[0-9]{1,18}$ ]] || [ "${value}" -lt "${min}" ] \
          || { [ -n "${max}" ] && [ "${value}" -gt "${max}" ]; }; then
        if [ -n "${max}" ]; then
          option_error "${option} must be an integer from ${min} to ${max}${alternatives}, got '${value}'"
        fi
        option_error "${option} must be an integer of at least ${min}${alternatives}, got '${value}'"
      fi ;;
    number|number:*)
      local max=""
      [[ "${kind}" == number:* ]] && max=${kind#number:}
      if ! [[ "${value}" =~ ${number} ]] || ! awk -v v="${value}" -v m="${max}" \
          'BEGIN { exit !(v + 0 > 0 && (m == "" || v + 0 <= m + 0)) }'; then
        option_error "${option} must be a number above 0${max:+ and at most ${max}}${alternatives}, got '${value}'"
      fi ;;
    number0)
      [[ "${value}" =~ ${number} ]] \
        || option_error "${option} must be a number, 0 or above${alternatives}, got '${value}'" ;;
    word)
      option_error "${option} must be one of$(printf ' "%s"' "$@"), got '${value}'" ;;
    path)
      [ -n "${value}" ] || option_error "${option} must not be empty" ;;
    *)
      die "check_option: unknown kind '${kind}' for ${option}" ;;
  esac
}

fingerprint() {
  local f
  for f in "$@"; do
    if [ -f "${f}" ]; then printf '%s\n' "${f##*/}"; cat "${f}"; fi
  done | md5sum | cut -c1-16
}

# The digest of one path: a file by its bytes, a .gz file by what it holds (gzip stamps the time it wrote the
# file, so a rebuilt manifest with the same cuts would otherwise look new), a folder by the names and bytes of
# its files (hidden files, which are markers and journals, aside).
_content_digest() {
  local path=$1
  if [ -d "${path}" ]; then
    (cd "${path}" && find . -type f ! -name '.*' -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum) | md5sum
  elif [[ "${path}" == *.gz ]]; then
    gzip -dc -- "${path}" | md5sum
  else
    md5sum < "${path}"
  fi
}

content_hash() {
  local path digest
  for path in "$@"; do
    [ -e "${path}" ] || die "${path} is missing"
    digest=$(_content_digest "${path}") || die "cannot read ${path}"
    printf '%s %s\n' "${path##*/}" "${digest%% *}"
  done | md5sum | cut -c1-16
}

stage_status() {
  local marker=$1 signature=$2 missing=0 file
  if [ "${force:-false}" = true ]; then
    log "--force true: redoing, whatever ${marker} says"
    echo todo
    return
  fi
  if [ ! -f "${marker}" ]; then
    echo todo
    return
  fi
  if [ "$(sed -n 1p "${marker}")" != "signature ${signature}" ]; then
    log "${marker} was made with other options or inputs; redoing"
    echo todo
    return
  fi
  while IFS= read -r file; do
    if [ ! -e "${file}" ]; then
      log "${file} is missing; rebuilding what is missing"
      missing=1
    fi
  done < <(sed -n 's/^output //p' "${marker}")
  if [ "${missing}" -eq 1 ]; then echo partial; else echo "done"; fi
}

# mark_done MARKER SIGNATURE OUTPUT... [-- REPORT...]: the OUTPUTs are what later stages use (files or folders):
# their content hash goes into the marker. REPORTs (logs, timings, summaries for people) only have to be there.
# Every one must exist: a stage that "succeeded" without them is a bug, and would be rebuilt on every run.
mark_done() {
  local marker=$1 signature=$2 tmp file content
  shift 2
  local outputs=() reports=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do outputs+=("$1"); shift; done
  [ $# -eq 0 ] || { shift; reports=("$@"); }
  for file in "${outputs[@]}" "${reports[@]}"; do
    [ -e "${file}" ] || die "the stage finished, but its output ${file} is not there; not marking it done (${marker})"
  done
  content=$(content_hash "${outputs[@]}") || exit 1
  mkdir -p "$(dirname "${marker}")"
  tmp=$(mktemp "${marker}.XXXXXX")
  {
    echo "signature ${signature}"
    echo "content ${content}"
    for file in "${outputs[@]}" "${reports[@]}"; do echo "output ${file}"; done
  } > "${tmp}"
  mv -f "${tmp}" "${marker}"
}

# set_aside PATH: move PATH out of the way, to PATH.old.<YYYYmmdd-HHMMSS> (a number added when that exists too).
# The recipe never deletes what it made: what is old is kept beside the new, for the user to compare or remove.
set_aside() {
  local path=${1%/} aside n=1
  [ -e "${path}" ] || return 0
  aside=${path}.old.$(date '+%Y%m%d-%H%M%S')
  while [ -e "${aside}" ]; do aside=${path}.old.$(date '+%Y%m%d-%H%M%S').${n}; n=$(( n + 1 )); done
  mv "${path}" "${aside}"
  log "${path} set aside as ${aside}"
}

stage_log() {
  local number=$1 line
  shift
  line="$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}:${FUNCNAME[1]:-main}) $*"
  printf '%s\n' "${line}" >&2
  mkdir -p "${log_dir:-log}"
  printf '%s\n' "${line}" >> "${log_dir:-log}/stage${number}.log"
}

# stage_begin NUMBER POLICY MARKER WHAT SIGNATURE...: the one "skip if up to date, else run, then mark" of every
# stage. WHAT is "what it does -> its output". Up to date (MARKER holds SIGNATURE and its outputs are there):
# logs "skipped", returns 1. Otherwise logs WHAT, makes room by POLICY (data, keep or file; what each does is the
# table in docs/recipe.md, "Reruns") and returns 0; the stage runs its tool and calls stage_end OUTPUT...
# [-- REPORT...] (mark_done with this marker and signature). The stage's folder is the marker's. A data stage
# whose outputs were only partly deleted gets stage_partial=true (its tool rebuilds just those).
# shellcheck disable=SC2034  # stage_partial is read by the stage
stage_begin() {
  local number=$1 policy=$2 marker=$3 what=$4 status dir
  shift 4
  _stage_marker=${marker} _stage_signature="$*" stage_partial=false
  dir=$(dirname "${marker}")
  status=$(stage_status "${marker}" "${_stage_signature}")
  if [ "${status}" = "done" ]; then
    stage_log "${number}" "Stage ${number}: ${what##* -> } is up to date (${marker}); skipped"
    return 1
  fi
  if [ "${policy}" = file ]; then
    rm -f "${marker}"  # only the marker: a half-fetched file is replaced by the tool, atomically
  elif [ "${force:-false}" = true ] || { [ "${policy}" = data ] && [ "${status}" = todo ]; }; then
    set_aside "${dir}"
    what+=" (from scratch)"
  elif [ "${status}" = partial ]; then
    stage_partial=true
    what+=" (only what is missing)"
  elif [ -f "${marker}" ]; then
    die "stage ${number}: ${dir} was made with other options or inputs (${marker}); it is kept. To make the new" \
        "one beside it, use --tag NAME (or another --exp-dir); to set the old one aside (moved to" \
        "${dir}.old.<time>) and redo it, rerun with --force true"
  elif [ -d "${dir}" ]; then
    what+=" (continuing what is in ${dir})"
  fi
  stage_log "${number}" "Stage ${number}: ${what}"
}

stage_end() {
  mark_done "${_stage_marker}" "${_stage_signature}" "$@"
}

# trust_marker MARKER OUTPUT...: a completion marker that a tool keeps itself (fcodec.bin.decode's and score's
# .done) is only trusted when its outputs are there: without one, the marker goes and the tool completes the folder.
trust_marker() {
  local marker=$1 output
  shift
  [ -f "${marker}" ] || return 0
  for output in "$@"; do
    if [ ! -e "${output}" ]; then
      log "${output} is missing: ${marker} no longer holds; completing"
      rm -f "${marker}"
      return 0
    fi
  done
}
