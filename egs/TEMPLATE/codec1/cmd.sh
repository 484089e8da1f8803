# shellcheck shell=bash
# cmd.sh: how the recipe launches its jobs (Kaldi/ESPnet style). codec.sh sources it.
#
# Every launcher takes the same arguments:
#   ${train_cmd} [--gpu N] [--mem SIZE] [--num-threads N] [--name NAME] LOG COMMAND [ARGS...]
# and runs COMMAND, writes its output to LOG, and returns its exit status.
#   train_cmd:  CPU jobs (data preparation)      cuda_cmd:   GPU jobs (training)
#   decode_cmd: decoding and scoring
#
# Backends (choose with cmd_backend, or CMD_BACKEND in the environment):
#   local  this machine (the default)
#   slurm  srun on a Slurm cluster; set partitions and limits in conf/slurm.conf
cmd_backend=${CMD_BACKEND:-local}

case "${cmd_backend}" in
  local)
    export train_cmd="utils/run_local.sh"
    export cuda_cmd="utils/run_local.sh"
    export decode_cmd="utils/run_local.sh"
    ;;
  slurm)
    export train_cmd="utils/run_slurm.sh --config conf/slurm.conf"
    export cuda_cmd="utils/run_slurm.sh --config conf/slurm.conf --gpu 1"
    export decode_cmd="utils/run_slurm.sh --config conf/slurm.conf"
    ;;
  *)
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2
    # shellcheck disable=SC2317  # exit when cmd.sh is run rather than sourced
    return 1 2>/dev/null || exit 1
    ;;
esac
