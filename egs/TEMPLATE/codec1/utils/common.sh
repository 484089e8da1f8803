# shellcheck shell=bash
# utils/common.sh: helpers every recipe script sources (. utils/common.sh).
#
#   log MESSAGE...                    a time-stamped line on stderr, naming the script, line and function
#   die MESSAGE...                    log it and exit 1
#   min A B                           the smaller integer
#   options_in FILE [BLOCK]           the option names declared between "# <BLOCK>" and "# </BLOCK>" in FILE
#   options_help FILE [BLOCK]         one help line per option of the block: --name "value"  what it is
#   options_block FILE [BLOCK]        the block's assignment lines (to eval: declares the options with defaults)
#   fingerprint FILE...               a short hash of the files' contents (missing files count as empty)
#   stage_status MARKER SIGNATURE     done | partial | todo: may a stage be skipped?
#   mark_done MARKER SIGNATURE FILE...  write the stage's marker, atomically, after it succeeded
#
# Stage markers: a stage writes "<its output dir>/.<stage name>.done" when it has finished, holding the
# signature of what it was asked to do (its options and the markers of its inputs) and the files it made.
# On the next run the stage is skipped when the marker is there, the signature is the same and every file is
# still there ("done"); when files were deleted it rebuilds just those ("partial"); when the marker is missing
# (never run, or died half way) or the options changed, it is redone from scratch ("todo"). --force true
# redoes it whatever the marker says.

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

min() {
  if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi
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

options_block() {
  _options_lines "$@" | grep -E '^[A-Za-z_][A-Za-z0-9_]*='
}

# Help lines from the block: a "# -- heading" line prints as a heading; "name=default  # text" prints
# '--name "VALUE"' and the text. The value shown is the variable's current value, so a recipe's run.sh
# that passes its own defaults before --help shows those.
options_help() {
  local line name text
  while IFS= read -r line; do
    if [[ "${line}" =~ ^#\ --\ (.*)$ ]]; then
      printf '\n  %s\n' "${BASH_REMATCH[1]}"
    elif [[ "${line}" =~ ^([A-Za-z_][A-Za-z0-9_]*)= ]]; then
      name=${BASH_REMATCH[1]}
      text=""
      [[ "${line}" == *"  # "* ]] && text=${line#*  # }
      printf '    --%-34s %s\n' "${name//_/-} \"${!name}\"" "${text}"
    fi
  done < <(_options_lines "$@")
}

fingerprint() {
  local f
  for f in "$@"; do
    if [ -f "${f}" ]; then printf '%s\n' "${f##*/}"; cat "${f}"; fi
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

mark_done() {
  local marker=$1 signature=$2 tmp file
  shift 2
  mkdir -p "$(dirname "${marker}")"
  tmp=$(mktemp "${marker}.XXXXXX")
  {
    echo "signature ${signature}"
    for file in "$@"; do echo "output ${file}"; done
  } > "${tmp}"
  mv -f "${tmp}" "${marker}"
}
