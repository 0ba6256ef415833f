#!/usr/bin/env bash
# The GPU check (DESIGN §5): run on the GPU machine as one command, from the repository root, with .gpu/
# (tools/gpu-bundle.sh) carried along. Runs the Gpu test category, the GPU benchmarks and a 200-step ptb-650
# training run on the GPU, writes full logs under $OUT (default gpu-out/), and prints a summary table last.
# On a machine without a GPU it still runs to the end and reports the GPU parts as skipped, with the reason.
# Budget (the issue: one command of at most 8 minutes): tests 150 s, benchmarks 170 s, training 120 s, plus about
# 30 s to unpack and probe: under 8 minutes in all.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
here=$(pwd)
work=$(mktemp -d /tmp/artar-gpu.XXXXXX)
summary=()
started=$(date +%s)

record() { summary+=("$(printf '%-22s %-8s %s' "$1" "$2" "$3")"); }

# 1. Unpack the runtime and the builds.
if [ ! -f .gpu/dotnet-runtime.tar.xz ] || [ ! -f .gpu/app.tar.xz ]; then
  echo "gpu-check: .gpu/ is missing; build it with tools/gpu-bundle.sh and carry it along"
  exit 2
fi
mkdir -p "$work/dotnet" "$work/app"
tar -C "$work/dotnet" -xJf .gpu/dotnet-runtime.tar.xz
tar -C "$work/app" -xJf .gpu/app.tar.xz
export DOTNET_ROOT="$work/dotnet" PATH="$work/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export ARTAR_DATA="$here/.gpu/data"
artar() { dotnet "$work/app/Host/artar.dll" "$@"; }

# 2. The machine and the CUDA libraries (DESIGN §4 lookup: loader paths, ARTAR_CUDA_LIBS, pip's nvidia/*/lib).
{
  echo "commit: $(cat .gpu/commit 2>/dev/null)"; date -u; uname -a
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  echo "--- loader cache"; ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libcublas|libcudnn' || echo "(none)"
  sites=$(timeout 10 python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null)
  extra=$(for d in $sites; do ls -d "$d"/nvidia/*/lib 2>/dev/null; done | sort -u | paste -sd: -)
  echo "--- pip nvidia/*/lib: ${extra:-(none)}"
  echo "ARTAR_CUDA_LIBS=${extra}" > "$work/env"
} > "$OUT/env.txt" 2>&1
export "$(cat "$work/env")"

artar device > "$OUT/device.txt" 2>&1
if [ $? -eq 0 ]; then gpu=yes; reason=""; else gpu=no; reason=$(tail -1 "$OUT/device.txt"); fi
record "device" "$([ $gpu = yes ] && echo ok || echo none)" "$(tail -1 "$OUT/device.txt")"

# 3. The Gpu test category: parity of every op and of a full step with the CPU reference; determinism.
timeout 150 dotnet "$work/app/ArTar.Tests/ArTar.Tests.dll" --filter "TestCategory=Gpu" --no-progress > "$OUT/gpu-tests.log" 2>&1
rc=$?
n() { grep -E "^\s*$1: [0-9]+" "$OUT/gpu-tests.log" | tail -1 | grep -oE '[0-9]+' || echo 0; }
tests="$(n succeeded) passed, $(n failed) failed, $(n skipped) skipped"
if [ $rc -eq 124 ]; then record "gpu tests" "TIMEOUT" "$tests after 150 s"
elif [ "$(n failed)" != 0 ] || { [ $rc -ne 0 ] && [ $rc -ne 8 ]; }; then record "gpu tests" "FAILED" "$tests (exit $rc)"
elif [ $gpu = no ]; then record "gpu tests" "skipped" "$tests: $reason"
else record "gpu tests" "ok" "$tests"; fi

# 4. Kernel microbenchmarks and training throughput (GPU half of tools/Bench), PyTorch beside it when python3 has torch.
if [ $gpu = yes ]; then
  timeout 170 dotnet "$work/app/Bench/ArTar.Bench.dll" gpu --seconds 0.2 --json "$OUT/bench-gpu.json" > "$OUT/bench.log" 2>&1
  rc=$?; record "gpu benchmarks" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" "exit $rc; see bench.log"
  while IFS= read -r line; do record "  tok/s" "" "$line"; done < <(grep -E "^(ptb-650|ptb-tiny) +(ours|pytorch)" "$OUT/bench.log")
else
  record "gpu benchmarks" "skipped" "$reason"
fi

# 5. A 200-step ptb-650 training run on the GPU and on nothing else (200 windows of 20×35 tokens, one epoch).
if [ $gpu = yes ]; then
  timeout 120 dotnet "$work/app/Host/artar.dll" train "$work/app/config/ptb-650.json" --device cuda \
    --set epochs=1 --set max_train_tokens=140001 --set max_eval_tokens=20000 --set log_interval=50 \
    --run-dir "$work/run" > "$OUT/train.log" 2>&1
  rc=$?
  cp "$work/run/metrics.jsonl" "$OUT/" 2>/dev/null
  record "train ptb-650 200 st" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" "exit $rc; $(grep -E 'valid' "$OUT/train.log" | tail -1)"
else
  record "train ptb-650 200 st" "skipped" "$reason"
fi

# 6. Summary, last.
{
  echo
  echo "=== ArTar GPU check: $(cat .gpu/commit 2>/dev/null | cut -c1-12), $(( $(date +%s) - started )) s ==="
  printf '%-22s %-8s %s\n' "step" "result" "detail"
  printf '%s\n' "${summary[@]}"
} | tee "$OUT/summary.txt"
rm -rf "$work"
