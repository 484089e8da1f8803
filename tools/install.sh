#!/usr/bin/env bash
# Install fcodec into a virtualenv at tools/venv (Kaldi/ESPnet style: recipes activate it through path.sh).
#
#   tools/install.sh                 # venv + torch + fcodec[test,eval,mini], editable
#   tools/install.sh --extras eval   # choose the extras
#
# torch: a torch that is already importable (in tools/venv, or in the Python that creates the venv) is kept.
# Otherwise torch==${TORCH_VERSION} is installed; pip resolves it to the CPU wheel on a CPU machine whose pip
# points at one (find-links), and to the default CUDA build elsewhere. Set TORCH_INDEX_URL to choose a build,
# e.g. https://download.pytorch.org/whl/cpu . torchaudio is never installed: fcodec does not use it.
set -euo pipefail

TORCH_VERSION=${TORCH_VERSION:-2.13.*}
PYTHON=${PYTHON:-python3}
extras="test,eval,mini,export"

while [ $# -gt 0 ]; do
  case "$1" in
    --extras) extras="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$0: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
done

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools_dir")
venv="$tools_dir/venv"

log() { echo -e "$(date '+%Y-%m-%d %H:%M:%S') (install.sh) $*"; }

if [ ! -x "$venv/bin/python" ]; then
  if "$PYTHON" -c "import torch" 2>/dev/null; then
    # Keep the torch the system already has (possibly a CUDA build chosen by the admin).
    log "creating $venv (with system site-packages: keeping torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))"
    "$PYTHON" -m venv --system-site-packages "$venv"
  else
    log "creating $venv"
    "$PYTHON" -m venv "$venv"
  fi
fi
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip setuptools wheel

if "$py" -c "import torch" 2>/dev/null; then
  log "keeping installed torch $("$py" -c 'import torch; print(torch.__version__)')"
else
  log "installing torch==${TORCH_VERSION}"
  "$py" -m pip install -q "torch==${TORCH_VERSION}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi

log "installing fcodec[${extras}] (editable) from $root"
"$py" -m pip install -q -e "${root}[${extras}]"
if [[ ",${extras}," == *",eval,"* ]] && ! "$py" -c "import webrtcvad" 2>/dev/null; then
  # Resemblyzer pulls webrtcvad, whose module imports pkg_resources (gone from recent setuptools); webrtcvad-wheels
  # ships the same module without it: put its copy back on top
  "$py" -m pip install -q --force-reinstall --no-deps webrtcvad-wheels
fi

"$py" - <<'PY'
import torch, lhotse, whisper, fcodec
print(f"fcodec {fcodec.__version__}, torch {torch.__version__} (cuda: {torch.cuda.is_available()}), "
      f"lhotse {lhotse.__version__}")
PY
log "done; activate with: . $venv/bin/activate"
