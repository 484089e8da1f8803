# shellcheck shell=bash
# path.sh: the environment every stage runs in; codec.sh sources it from the recipe folder.
# A recipe folder sits three levels below the repository (egs/<corpus>/codec1), so the root is ../../..
# from here, also when this file is reached through the recipe's symbolic link.
MAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
export MAIN_ROOT

# The virtualenv that tools/install.sh makes, when there is one; otherwise whatever python is on PATH.
if [ -f "${MAIN_ROOT}/tools/venv/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "${MAIN_ROOT}/tools/venv/bin/activate"
fi
# The recipe uses the fcodec of its own checkout, whatever else is installed.
export PYTHONPATH="${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"

export LC_ALL=C
export PYTHONIOENCODING=UTF-8
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# A recipe may add its own settings.
if [ -f local/path.sh ]; then
  # shellcheck disable=SC1091
  . local/path.sh
fi
