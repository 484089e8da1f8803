#!/usr/bin/env bash
# Issue 11's GPU figures in one run, for the few minutes a lent GPU machine gives: the matmul peak, concurrent
# real-time streams (bf16 and fp32, CUDA graphs), offline encode + decode (bf16, and upstream beside ours when its
# package is importable), and training throughput of the 25 Hz training run with the ASR loss (eager and compiled).
#
#   tools/benchmarks/gpu_checks.sh                      # peak, streams, codec: at most 9 minutes (about 4)
#   tools/benchmarks/gpu_checks.sh --only peak,train    # training throughput: at most 9 minutes
#   tools/benchmarks/gpu_checks.sh --only scoring       # stage 8 projected with the judges on CUDA: at most 5 min
#   tools/benchmarks/gpu_checks.sh --quick --device cpu # the same plumbing on a CPU with the tiny model (minutes)
#
# The two parts fit the device tool's 10 minutes per command (its budget is 15 minutes a session, a machine
# start included): run the first, then the second while the machine is still warm.
# From the device tool (an image without a package registry): run ../shared/tools/device/make_wheels.sh here
# first, then  run(command="PY=/opt/torch/.venv/bin/python3; export PATH=$(dirname $PY):$PATH;
#   $PY -m pip install -q --no-index --no-deps --no-compile .whl/*.whl; tools/benchmarks/gpu_checks.sh",
#   carry=[".whl"]). Each check has its own time limit, so that one that hangs leaves the others their time;
# a failed check is logged and the next one runs. The summary lines are the last lines of the output.
set -uo pipefail

out=${OUT:-exp/gpu_checks}
device=cuda
quick=false
only=peak,streams,codec
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --quick) quick=true; shift ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_checks: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
python=${PY:-python}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$out"
log() { echo "$(date -u +%H:%M:%S) gpu_checks: $*"; }
wants() { [[ ",$only," == *",$1,"* ]]; }

if $quick; then  # the tiny model, a few steps: checks that every command runs, not the figures
  config=tiny streams=1,4 streams_fp32=1,4 batch=2 seconds=2 chunks=4 steps=2
  train=(--sizes tiny --runs 25hz --batch 2 --seconds 1 --steps 1 --whisper tiny)
  peak_n=512
else
  config=causal-2k streams=1,64,256,1024,2048,3072,4096 streams_fp32=1,256,1024 batch=64 seconds=10 chunks=40
  steps=20
  train=(--sizes full --runs 25hz --batch 16 --seconds 3 --steps 5 --whisper small)
  peak_n=8192
fi

summary=()
check() {  # check NAME LIMIT_S COMMAND...: run it with a time limit, log to $out/NAME.log
  local name=$1 limit=$2
  shift 2
  log "$name: $*"
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  tail -n 12 "$out/$name.log"
  local took=$((SECONDS - start))
  if [ $rc -eq 0 ]; then
    summary+=("$name: ok in ${took} s")
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    summary+=("$name: TIMED OUT after ${limit} s (partial log in $out/$name.log)")
  else
    summary+=("$name: FAILED (exit $rc) in ${took} s: $(tail -n 1 "$out/$name.log")")
  fi
}

log "device $device, out $out, quick $quick, checks $only"
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
  torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" | tee "$out/env.txt"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv \
  | tee -a "$out/env.txt"

peak=""
if wants peak; then  # the measured dense bf16 matmul peak, the denominator of the training throughput's fraction
  check peak 60 "$python" - "$device" "$peak_n" <<'EOF'
import sys, time, torch
device, n = torch.device(sys.argv[1]), int(sys.argv[2])
dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
for _ in range(3):
    a @ b
sync()
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    sync()
    best = min(best, (time.perf_counter() - start) / 10)
print(f"matmul {n}^3 {dtype}: {2 * n**3 / best / 1e12:.1f} TFLOP/s")
EOF
  peak=$(sed -n 's/.*: \([0-9.]*\) TFLOP\/s$/\1/p' "$out/peak.log")
fi

graphs=()
[ "${device%%:*}" = cuda ] && graphs=(--cuda-graphs)
if wants streams; then
  check streams_bf16 180 "$python" tools/benchmarks/bench_streams.py --config $config --device "$device" \
    "${graphs[@]}" --dtype bfloat16 --streams $streams --steps $steps --json "$out/streams_bf16.json"
  check streams_fp32 90 "$python" tools/benchmarks/bench_streams.py --config $config --device "$device" \
    "${graphs[@]}" --streams $streams_fp32 --steps $steps --json "$out/streams_fp32.json"
fi

if wants codec; then
  upstream=()
  "$python" -c "import focalcodec" 2> /dev/null && upstream=(--upstream)
  common=(--config $config --device "$device" --batch $batch --seconds $seconds --chunks $chunks --repeat 3)
  check codec_bf16_autocast 120 "$python" tools/benchmarks/bench_codec.py "${common[@]}" \
    --precision bf16-autocast "${upstream[@]}" --json "$out/codec_bf16_autocast.json"
  check codec_bf16 75 "$python" tools/benchmarks/bench_codec.py "${common[@]}" --precision bf16 \
    --json "$out/codec_bf16.json"
fi

if wants train; then
  train_device=${device%%:*}
  check train 480 "$python" tools/benchmarks/bench_train.py --device "$train_device" "${train[@]}" --asr \
    --compile ${peak:+--peak-tflops $peak} --json "$out/train.jsonl"
fi

if wants scoring; then  # NISQA, DNSMOS (torch) and the speaker encoder on CUDA, the recipe's stage-8 time projected
  check scoring 300 "$python" tools/benchmarks/bench_scoring.py --project --device "$device" --utts 64 \
    --batch-size 16
fi

log "summary (logs and JSON in $out):"
for line in "${summary[@]}"; do echo "  $line"; done
