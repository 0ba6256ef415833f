#!/usr/bin/env bash
# The GPU check: one command on the GPU machine, from the repository root, with .gpu/ (tools/gpu-bundle.sh) carried.
#
#   bash tools/gpu-check.sh [--budget SECONDS]      (default 540: the device call's timeout_s 570 less 30 s to spare)
#
# Stages, each with its own timeout: the bring-up probe (`artar device --probe`) 20 s, the Gpu test category 60 s,
# the GPU benchmarks 100 s, a 100-step ptb-650 training 40 s: 220 s; with unpacking (20 s), the machine's description
# (20 s) and the one-line device check (10 s), at most 270 s. Then, only when every stage before it passed,
# tools/gpu-reproduce.sh with the time that is left (Table 3's first pair, stopped by the budget).
# What comes back, under $OUT (default gpu-out/), at most 8 files:
#   summary.txt     a line per stage, appended as each stage finishes (a kill keeps what was done)
#   logs.tar.gz     every stage's log, repacked after each stage
#   bench-gpu.json  the benchmarks, rewritten after each part (ceilings, ops, throughput)
#   runs.tar.gz, results.png   from gpu-reproduce.sh
# On a machine without a GPU it runs to the end and reports the GPU stages as skipped, with the reason.
# Exit: 0 unless a stage FAILED or timed out (1); 2 when .gpu/ is missing or the usage is wrong.
set -uo pipefail
cd "$(dirname "$0")/.."
budget=540
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "gpu-check: --budget needs whole seconds"; exit 2; }; budget=$2; shift 2 ;;
    *) echo "gpu-check: unknown argument $1; usage: bash tools/gpu-check.sh [--budget SECONDS]"; exit 2 ;;
  esac
done
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
here=$(pwd)
work=$(mktemp -d /tmp/artar-gpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
logs="$work/logs"
mkdir -p "$logs"
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
passed=yes   # every stage so far ok: the condition for the Table 3 stage
failed=no    # a stage FAILED or timed out: exit 1

{
  echo "=== ArTar GPU check: $(cut -c1-12 .gpu/commit 2>/dev/null || echo unknown), $(date -u '+%F %T UTC'), budget ${budget} s ==="
  printf '%-22s %-8s %s\n' "stage" "result" "detail"
} > "$OUT/summary.txt"
record() {
  printf '%-22s %-8s %s\n' "$1" "$2" "$3 [$(elapsed) s]" >> "$OUT/summary.txt"
  [ "$2" = ok ] || passed=no
  case "$2" in FAILED|TIMEOUT) failed=yes ;; esac
}
# The logs as one archive, replaced whole (written beside, then renamed) so a kill never leaves half of one.
pack() { tar -C "$logs" -czf "$OUT/logs.tar.gz.part" . && mv "$OUT/logs.tar.gz.part" "$OUT/logs.tar.gz"; }

# cuBLAS is bit-reproducible across concurrent streams only with this (docs/cuda.md §5); read when a handle is made.
export CUBLAS_WORKSPACE_CONFIG=:4096:8

# 1. Unpack the runtime and the builds.
if [ ! -f .gpu/dotnet-runtime.tar.xz ] || [ ! -f .gpu/app.tar.xz ]; then
  record "unpack" "FAILED" ".gpu/ is missing; build it with tools/gpu-bundle.sh and carry it along"
  cat "$OUT/summary.txt"
  exit 2
fi
mkdir -p "$work/dotnet" "$work/app"
timeout 20 bash -c 'tar -C "$1/dotnet" -xJf .gpu/dotnet-runtime.tar.xz && tar -C "$1/app" -xJf .gpu/app.tar.xz' unpack "$work"
rc=$?
record "unpack" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" "exit $rc"
[ $rc -eq 0 ] || { cat "$OUT/summary.txt"; exit 1; }
export DOTNET_ROOT="$work/dotnet" PATH="$work/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export ARTAR_DATA="$here/.gpu/data"
artar_dll="$work/app/Host/artar.dll"

# 2. The machine and the CUDA libraries (loader paths, ARTAR_CUDA_LIBS, pip's nvidia/*/lib).
{
  echo "commit: $(cat .gpu/commit 2>/dev/null)"; date -u; uname -a
  timeout 10 nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  echo "--- loader cache"; ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libcublas|libcudnn' || echo "(none)"
  sites=$(timeout 10 python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null)
  extra=$(for d in $sites; do ls -d "$d"/nvidia/*/lib 2>/dev/null; done | sort -u | paste -sd: -)
  echo "--- pip nvidia/*/lib: ${extra:-(none)}"
  echo "ARTAR_CUDA_LIBS=${extra}" > "$work/env"
} > "$logs/env.txt" 2>&1
export "$(cat "$work/env")"

# 3. Is there a GPU at all (one line), then the bring-up probe: a table, exit 0 only when every probe stage is ok.
timeout 10 dotnet "$artar_dll" device > "$logs/device.txt" 2>&1
if [ $? -eq 0 ]; then gpu=yes; reason=""; else gpu=no; reason=$(tail -1 "$logs/device.txt"); fi
timeout 20 dotnet "$artar_dll" device --probe > "$logs/probe.txt" 2>&1
rc=$?
if [ $rc -eq 0 ]; then record "probe" "ok" "$(tail -1 "$logs/device.txt")"
elif [ $gpu = no ]; then record "probe" "none" "$reason"
else record "probe" "FAILED" "exit $rc: $(tail -1 "$logs/probe.txt")"; fi
pack

# 4. The Gpu test category: every op and a full step against the CPU reference, the arena's padding, determinism.
CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG=stderr timeout 60 dotnet "$work/app/ArTar.Tests/ArTar.Tests.dll" \
  --filter "TestCategory=Gpu" --no-progress --output detailed > "$logs/gpu-tests.log" 2>&1
rc=$?
n() { grep -E "^\s*$1: [0-9]+" "$logs/gpu-tests.log" | tail -1 | grep -oE '[0-9]+' || echo 0; }
tests="$(n succeeded) passed, $(n failed) failed, $(n skipped) skipped"
if [ $rc -eq 124 ]; then record "gpu tests" "TIMEOUT" "$tests after 60 s"
elif [ "$(n failed)" != 0 ] || { [ $rc -ne 0 ] && [ $rc -ne 8 ]; }; then record "gpu tests" "FAILED" "$tests (exit $rc)"
elif [ $gpu = no ]; then record "gpu tests" "skipped" "$tests: $reason"
else record "gpu tests" "ok" "$tests"; fi
pack

# 5. GPU ceilings, every kernel (checked, several launch shapes) and training throughput beside PyTorch (capped).
if [ $gpu = yes ]; then
  timeout 100 dotnet "$work/app/Bench/ArTar.Bench.dll" gpu --seconds 0.1 --json "$OUT/bench-gpu.json" > "$logs/bench.log" 2>&1
  rc=$?
  record "gpu benchmarks" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" "exit $rc$([ $rc -eq 124 ] && echo ': timed out after 100 s'); $(grep -oE '"done": "[^"]*"' "$OUT/bench-gpu.json" 2>/dev/null)"
  while IFS= read -r l; do printf '%-22s %-8s %s\n' "  tok/s" "" "$l" >> "$OUT/summary.txt"; done \
    < <(grep -E "^(ptb-650|ptb-tiny) +(ours|pytorch)" "$logs/bench.log")
else
  record "gpu benchmarks" "skipped" "$reason"
fi
pack

# 6. A short ptb-650 training on the GPU: 100 windows of 20×35 tokens, one epoch, validation on 20,000 tokens.
if [ $gpu = yes ]; then
  timeout 40 dotnet "$artar_dll" train "$work/app/config/ptb-650.json" --device cuda \
    --set epochs=1 --set max_train_tokens=70001 --set max_eval_tokens=20000 --set log_interval=25 \
    --run-dir "$work/run" > "$logs/train.log" 2>&1
  rc=$?
  cp "$work/run/metrics.jsonl" "$logs/" 2>/dev/null
  record "train ptb-650 100 st" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" "exit $rc; $(grep -E 'valid' "$logs/train.log" | tail -1)"
else
  record "train ptb-650 100 st" "skipped" "$reason"
fi
pack

# 7. Table 3's first pair with the time that is left (10 s kept for the last packing), only after a clean check.
left=$(( budget - $(elapsed) - 10 ))
if [ $passed != yes ]; then
  record "table 3" "skipped" "an earlier stage did not pass"
elif [ $left -lt 120 ]; then
  record "table 3" "skipped" "only ${left} s left"
else
  bash tools/gpu-reproduce.sh --artar "$artar_dll" --budget "$left" --device cuda --out "$OUT" > "$logs/reproduce.log" 2>&1
  rc=$?
  echo "exit $rc" >> "$logs/reproduce.log"
  [ $rc -eq 0 ] || failed=yes   # its own lines in summary.txt say what
fi
pack

echo "=== $(elapsed) s of ${budget} ===" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
[ $failed = no ]
