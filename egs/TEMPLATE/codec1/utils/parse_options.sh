# shellcheck shell=bash
# utils/parse_options.sh: Kaldi-style options for recipe scripts. Source it, do not run it:
#
#   stage=0            # every option is a shell variable with a default, set above this line
#   use_gpu=true
#   . utils/parse_options.sh
#
# * "--foo-bar VALUE" and "--foo_bar VALUE" both set foo_bar; so does "--foo.bar" ("--train-12.5hz-config").
# * Only declared options are accepted: the names in $option_names when the script sets that variable,
#   otherwise any variable that is already set (Kaldi's rule). Anything else: "invalid option", exit 1.
# * An option whose default is true or false only takes true or false.
# * "--name=value" is rejected (the form is "--name value"); so is an option without a value.
# * "--config FILE" sources FILE first; options on the command line win over it.
# * "--help" / "-h" prints the help (the function print_help when the script defines one, else
#   $help_message) on stdout and exits 0.
# * Parsing stops at the first argument that does not start with "--"; it and the rest stay in "$@".
#
# Written for fcodec after Kaldi's egs/wsj/s5/utils/parse_options.sh (JHU, Apache 2.0), with the same
# semantics plus the stricter checks above.

# Messages name the script as ${_prog} when the script sets it (codec.sh: the run.sh the user ran), else $0.
_po_fail() { echo "${_prog:-$0}: $*" >&2; exit 1; }

_po_declared() {
  local _po_known
  if [ -n "${option_names+x}" ]; then
    for _po_known in ${option_names}; do
      [ "${_po_known}" = "$1" ] && return 0
    done
    return 1
  else
    declare -p "$1" >/dev/null 2>&1
  fi
}

# --config files come first, so that the command line overrides them.
_po_i=1
while [ "${_po_i}" -le $# ]; do
  if [ "${!_po_i}" = "--config" ]; then
    _po_j=$((_po_i + 1))
    [ "${_po_j}" -le $# ] || _po_fail "option --config needs a file"
    _po_config=${!_po_j}
    [ -r "${_po_config}" ] || _po_fail "cannot read the config file '${_po_config}'"
    # shellcheck disable=SC1090
    . "${_po_config}"
    _po_i=${_po_j}
  fi
  _po_i=$((_po_i + 1))
done

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      if declare -F print_help >/dev/null; then
        print_help
      else
        printf '%s\n' "${help_message:-No help found.}"
      fi
      exit 0 ;;
    --config)
      shift 2 ;;
    --*=*)
      _po_fail "options to scripts must be of the form --name value, got '$1'" ;;
    --*)
      _po_name=${1#--}
      _po_name=${_po_name//[-.]/_}
      if ! [[ "${_po_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || ! _po_declared "${_po_name}"; then
        _po_fail "invalid option $1 (see ${_prog:-$0} --help)"
      fi
      [ $# -ge 2 ] || _po_fail "option $1 needs a value"
      _po_old=${!_po_name-}  # unset: an option declared by name only (codec.sh passes local/data.sh's on)
      if [ "${_po_old}" = true ] || [ "${_po_old}" = false ]; then
        [ "$2" = true ] || [ "$2" = false ] || _po_fail "option $1 takes true or false, got '$2'"
      fi
      printf -v "${_po_name}" '%s' "$2"
      shift 2 ;;
    *)
      break ;;
  esac
done
unset _po_i _po_j _po_config _po_name _po_old
true
