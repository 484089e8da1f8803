#!/usr/bin/env bash
# utils/run_slurm.sh: run a command as a Slurm job step and wait for it; the "slurm" backend of cmd.sh.
#
#   utils/run_slurm.sh [--config conf/slurm.conf] [--gpu N] [--mem SIZE] [--num-threads N] [--name NAME] \
#       LOG COMMAND [ARGS...]
#
# The job runs through "srun" (so the recipe waits for it, and its exit status is the job's), in the current
# folder, which must be on a file system the compute nodes share. Its output goes to the console and to LOG.
# The config file (bash, sourced) may set: partition (CPU jobs), gpu_partition (jobs with --gpu > 0),
# time_limit (srun --time), extra_args (anything else for srun, e.g. "--account myproject --qos normal").
# SRUN names the srun program (default: srun).
set -uo pipefail

config=conf/slurm.conf
gpu=0
mem=""
threads=1
name=fcodec
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --gpu) gpu=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --num-threads) threads=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --*) echo "$0: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "usage: $0 [--config F] [--gpu N] [--mem SIZE] [--num-threads N] LOG COMMAND [ARGS...]" >&2
  exit 1
fi
log_file=$1
shift

partition=""
gpu_partition=""
time_limit=""
extra_args=""
if [ -f "${config}" ]; then
  # shellcheck disable=SC1090
  . "${config}"
fi

srun_args=(--job-name "${name}" --ntasks 1 --cpus-per-task "${threads}")
[ -n "${mem}" ] && srun_args+=(--mem "${mem}")
if [ "${gpu}" -gt 0 ]; then
  srun_args+=(--gres "gpu:${gpu}")
  [ -n "${gpu_partition:-${partition}}" ] && srun_args+=(--partition "${gpu_partition:-${partition}}")
else
  [ -n "${partition}" ] && srun_args+=(--partition "${partition}")
fi
[ -n "${time_limit}" ] && srun_args+=(--time "${time_limit}")
if [ -n "${extra_args}" ]; then
  read -r -a extra <<< "${extra_args}"
  srun_args+=("${extra[@]}")
fi

mkdir -p "$(dirname "${log_file}")"
printf '# %s  %s %s %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${SRUN:-srun}" "${srun_args[*]}" "$*" >> "${log_file}"
"${SRUN:-srun}" "${srun_args[@]}" "$@" 2>&1 | tee -a "${log_file}"
status=${PIPESTATUS[0]}
printf '# %s  exit status %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${status}" >> "${log_file}"
exit "${status}"
