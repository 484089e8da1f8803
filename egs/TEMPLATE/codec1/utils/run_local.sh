#!/usr/bin/env bash
# utils/run_local.sh: run a command on this machine; the "local" backend of cmd.sh (Kaldi's run.pl role).
#
#   utils/run_local.sh [--gpu N] [--mem SIZE] [--num-threads N] [--name NAME] LOG COMMAND [ARGS...]
#
# The command's output goes to the console and is appended to LOG, after a header line with the date and
# the command; the exit status is the command's. --gpu, --mem, --num-threads and --name keep the interface
# of the cluster backends; locally they change nothing (the command itself is told how many GPUs to use).
set -uo pipefail

while [ $# -gt 0 ]; do
  case "$1" in
    --gpu|--mem|--num-threads|--name) [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 1; }; shift 2 ;;
    --*) echo "$0: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: $0 [--gpu N] [--mem SIZE] [--num-threads N] LOG COMMAND [ARGS...]" >&2; exit 1; }
log_file=$1
shift
mkdir -p "$(dirname "${log_file}")"
printf '# %s  %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$*" >> "${log_file}"
"$@" 2>&1 | tee -a "${log_file}"
status=${PIPESTATUS[0]}
printf '# %s  exit status %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${status}" >> "${log_file}"
exit "${status}"
