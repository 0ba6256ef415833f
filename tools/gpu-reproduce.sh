#!/usr/bin/env bash
# Table 3 in one device call: the given configs train AT ONCE on the one GPU, each as its own `artar train` process with
# its own run folder, until they finish or the budget runs out; then SIGTERM (the trainer finishes its step, writes
# last.safetensors and exits 130), and a report of the epoch each reached and its validation perplexity there.
#
#   bash tools/gpu-reproduce.sh --artar DLL [--budget SECONDS] [--grace SECONDS] [--device cuda|cpu] [--set KEY=VALUE]…
#                               [--out DIR] [CONFIG…]
#
# CONFIG: a name under config/ or a path; default ptb-650-baseline ptb-650 (Table 3's first pair), 80 epochs each.
# --budget: this script's whole wall time (default 600); the runs are stopped at budget − grace − 25 s, so that the
# stop (up to --grace, default 30 s, before SIGKILL), the report (at most 20 s) and the packing fit. --set goes to
# every run.
# --device is passed through (default cuda; the rehearsal on a machine without a GPU uses cpu). The data folder is
# $ARTAR_DATA, as for artar itself.
# What comes back, under --out (default $OUT, else gpu-out): one line per run appended to summary.txt as the report is
# made, runs.tar.gz (each run's metrics.jsonl, config.json, summary.json when it finished, the last 200 lines of its
# log; `artar report`'s results.md and results.csv) and results.png, every run's validation curve, from `artar report RUNDIR… --out DIR`.
# Exit: 0 when every run finished or was stopped by the budget and the report was made, 1 otherwise, 2 for bad usage.
set -uo pipefail
export LC_ALL=C   # printf %.2f reads and writes a decimal point
cd "$(dirname "$0")/.."

usage() { echo "gpu-reproduce: $1; usage: bash tools/gpu-reproduce.sh --artar DLL [--budget S] [--grace S] [--device cuda|cpu] [--set K=V]… [--out DIR] [CONFIG…]" >&2; exit 2; }
budget=600 grace=30 device=cuda out="${OUT:-gpu-out}" artar_dll="${ARTAR_DLL:-}"
sets=() configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --budget|--grace|--device|--set|--out|--artar) [ $# -ge 2 ] || usage "$1 needs a value" ;;&
    --budget) budget=$2; shift 2 ;;
    --grace) grace=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --artar) artar_dll=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) usage "unknown option $1" ;;
    *) configs+=("$1"); shift ;;
  esac
done
[[ "$budget" =~ ^[0-9]+$ ]] || usage "--budget $budget: expected whole seconds"
[[ "$grace" =~ ^[0-9]+$ ]] || usage "--grace $grace: expected whole seconds"
[ -n "$artar_dll" ] && [ -f "$artar_dll" ] || usage "artar.dll not found (${artar_dll:-not given}); pass --artar PATH or set ARTAR_DLL"
[ ${#configs[@]} -gt 0 ] || configs=(ptb-650-baseline ptb-650)
stop_at=$(( budget - grace - 25 ))
[ "$stop_at" -gt 0 ] || usage "--budget $budget leaves no time to train after --grace $grace and 25 s for the report"

# Paper, Table 3 (valid/test perplexity) for the configs that have a row there.
paper() { case "$1" in ptb-650-baseline) echo "paper 78.2/74.8" ;; ptb-650) echo "paper 72.0/68.9" ;; *) echo "" ;; esac; }

names=() files=()
for c in "${configs[@]}"; do
  if [ -f "$c" ]; then f=$c; else f="config/$c.json"; fi
  [ -f "$f" ] || usage "config $c: neither a file nor config/$c.json"
  name=$(basename "$f" .json)
  for n in "${names[@]}"; do [ "$n" != "$name" ] || usage "config $name given twice (run folders are named after the config)"; done
  names+=("$name"); files+=("$f")
done

mkdir -p "$out"
work=$(mktemp -d /tmp/artar-reproduce.XXXXXX)
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
line() { printf '%-22s %-8s %s\n' "$1" "$2" "$3" >> "$out/summary.txt"; }

pids=()
for i in "${!names[@]}"; do
  dotnet "$artar_dll" train "${files[$i]}" --device "$device" "${sets[@]}" --run-dir "$work/runs/${names[$i]}" \
    > "$work/${names[$i]}.log" 2>&1 &
  pids+=($!)
done
echo "gpu-reproduce: ${#names[@]} runs on $device (${names[*]}), stopping at ${stop_at} s of a ${budget} s budget"

alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while alive && [ "$(elapsed)" -lt "$stop_at" ]; do sleep 1; done
stopped_at=""
if alive; then
  stopped_at=$(elapsed)
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  limit=$(( $(date +%s) + grace ))
  while alive && [ "$(date +%s)" -lt "$limit" ]; do sleep 1; done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
fi

# A number field of a JSON text (the first match), and a perplexity as printed in the summary.
field() { grep -oE "\"$1\": *[-0-9.eE+]+" | head -1 | sed -E 's/.*: *//'; }
ppl() { if [ -n "$1" ]; then printf '%.2f' "$1"; else echo "?"; fi; }
# The last epoch line of metrics.jsonl: "epoch N of E, valid ppl X".
last_epoch() {
  local l
  l=$(grep '"kind":"epoch"' "$1" 2>/dev/null | tail -1)
  if [ -z "$l" ]; then echo "no epoch finished of $2"; return; fi
  echo "epoch $(field epoch <<< "$l") of $2, valid ppl $(ppl "$(field valid_ppl <<< "$l")")"
}

failed=0
mkdir -p "$work/pack"
for i in "${!names[@]}"; do
  name=${names[$i]} run="$work/runs/${names[$i]}"
  wait "${pids[$i]}"; rc=$?
  epochs=$(field epochs < "$run/config.json" 2>/dev/null)
  reached=$(last_epoch "$run/metrics.jsonl" "${epochs:-?}")
  case $rc in
    0) result=ok
       detail="finished: valid $(ppl "$(field valid_ppl < "$run/summary.json")"), test $(ppl "$(field test_ppl < "$run/summary.json")") on the best model; $reached" ;;
    130) result=stopped; detail="by the budget at ${stopped_at} s: $reached" ;;
    137) result=FAILED; detail="killed ${grace} s after SIGTERM: $reached"; failed=1 ;;
    *) result=FAILED; detail="exit $rc: $(tail -1 "$work/$name.log"); $reached"; failed=1 ;;
  esac
  p=$(paper "$name")
  line "run $name" "$result" "$detail${p:+ ($p)}"
  mkdir -p "$work/pack/$name"
  for f in metrics.jsonl summary.json config.json; do [ -f "$run/$f" ] && cp "$run/$f" "$work/pack/$name/"; done
  tail -200 "$work/$name.log" > "$work/pack/$name/train.log"
done

# One image of every run's validation curve (and results.md/.csv) by `artar report`.
dirs=(); for name in "${names[@]}"; do [ -f "$work/runs/$name/metrics.jsonl" ] && dirs+=("$work/runs/$name"); done
if [ ${#dirs[@]} -eq 0 ]; then
  line "report" "FAILED" "no run wrote metrics.jsonl"; failed=1
else
  timeout 20 dotnet "$artar_dll" report "${dirs[@]}" --out "$work/report" > "$work/report.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ] && [ -f "$work/report/results.png" ]; then
    cp "$work/report/results.png" "$out/results.png"
    cp "$work/report"/results.{md,csv} "$work/pack/" 2>/dev/null
    line "report" "ok" "results.png: validation curves of ${#dirs[@]} runs"
  else
    line "report" "FAILED" "artar report exit $rc: $(tail -1 "$work/report.log")"; failed=1
  fi
  cp "$work/report.log" "$work/pack/"
fi
tar -C "$work/pack" -czf "$out/runs.tar.gz.part" . && mv "$out/runs.tar.gz.part" "$out/runs.tar.gz"
line "reproduce" "$([ $failed -eq 0 ] && echo ok || echo FAILED)" "${#names[@]} runs, $(elapsed) s of ${budget}; runs.tar.gz"
exit $failed
