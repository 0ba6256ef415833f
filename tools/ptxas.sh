#!/usr/bin/env bash
# ptxas.sh — assemble every PTX module for sm_80 and sm_90 with NVIDIA's ptxas, without installing CUDA (docs/design.md §4).
#
# ptxas comes from Debian's non-free nvidia-cuda-toolkit package (CUDA 11.8): a private apt configuration
# (own sources.list, own lists and archive cache) downloads the .deb, `dpkg -x` unpacks it, and only
# usr/bin/ptxas is kept, cached in ${ARTAR_CACHE:-$HOME/.cache/artar}/ptxas across runs. Nothing is installed.
#
# Usage: tools/ptxas.sh [ptx-dir]        default ptx-dir: src/Host/Cuda/obj/ptx (filled by `dotnet build`)
# Writes artifacts/ptxas-report.txt (registers, shared memory, spills per kernel and target);
# exits non-zero if ptxas refuses any module, or if there is no module to check.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
ptx_dir=${1:-$repo/src/Host/Cuda/obj/ptx}
cache=${ARTAR_CACHE:-$HOME/.cache/artar}/ptxas
ptxas=$cache/bin/ptxas
report=$repo/artifacts/ptxas-report.txt
targets=(sm_80 sm_90)

fetch_ptxas() {
    local apt=$cache/apt
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/preferences.d" "$apt/etc/apt.conf.d" "$cache/bin"
    echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main contrib non-free' \
        > "$apt/sources.list"
    : > "$apt/status"
    local opts=(
        -o "Dir::Etc::SourceList=$apt/sources.list"
        -o "Dir::Etc::SourceParts=-"
        -o "Dir::Etc::Preferences=$apt/etc/preferences"
        -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
        -o "Dir::State::Lists=$apt/lists"
        -o "Dir::State::Status=$apt/status"
        -o "Dir::Cache=$apt"
        -o "Dir::Cache::Archives=$apt/archives"
        -o "APT::Architecture=amd64"
        -o "APT::Get::List-Cleanup=false"
        -o "Debug::NoLocking=true"
        -o "APT::Sandbox::User=$(id -un)"
    )
    echo "ptxas.sh: fetching nvidia-cuda-toolkit (Debian bookworm non-free) into $cache" >&2
    apt-get "${opts[@]}" update -qq >&2
    (cd "$apt/archives" && apt-get "${opts[@]}" download nvidia-cuda-toolkit >&2)
    local deb
    deb=$(ls -t "$apt"/archives/nvidia-cuda-toolkit_*.deb | head -n1)
    local unpack=$cache/unpack
    rm -rf "$unpack" && mkdir -p "$unpack"
    dpkg -x "$deb" "$unpack"
    # The package may ship ptxas itself or a wrapper; keep the real binary.
    local found
    found=$(find "$unpack" -type f -name ptxas -perm -u+x | head -n1)
    [ -n "$found" ] || { echo "ptxas.sh: no ptxas inside $deb" >&2; exit 1; }
    cp "$found" "$ptxas"
    rm -rf "$unpack" "$deb"
}

[ -x "$ptxas" ] || fetch_ptxas
"$ptxas" --version | tail -n1 >&2

shopt -s nullglob
modules=("$ptx_dir"/*.ptx)
[ ${#modules[@]} -gt 0 ] || { echo "ptxas.sh: no PTX in $ptx_dir (run dotnet build first, with clang-14 or nvcc on the PATH)" >&2; exit 1; }

mkdir -p "$(dirname "$report")"
refused=0
{
    echo "# ptxas report — $("$ptxas" --version | tail -n1)"
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  modules: ${#modules[@]}  targets: ${targets[*]}"
} > "$report"
for ptx in "${modules[@]}"; do
    for sm in "${targets[@]}"; do
        echo "## $(basename "$ptx") $sm" >> "$report"
        if ! "$ptxas" -v -arch="$sm" -o /dev/null "$ptx" >> "$report" 2>&1; then
            echo "ptxas.sh: REFUSED $(basename "$ptx") for $sm" | tee -a "$report" >&2
            refused=$((refused + 1))
        fi
    done
done
# One line per kernel and target: registers and spills (the full ptxas output stays in the report).
awk "/Compiling entry function/ { match(\$0, /'[^']+' for 'sm_[0-9]+'/); split(substr(\$0, RSTART, RLENGTH), a, \"'\"); k = a[2]; t = a[4] }
     /spill stores/ { s = \$5 \"/\" \$9 }
     /Used [0-9]+ registers/ { match(\$0, /Used [0-9]+/); printf \"%-26s %s  %3s registers  spill st/ld %s B\\n\", k, t, substr(\$0, RSTART + 5, RLENGTH - 5), s }" "$report" >&2
echo "ptxas.sh: ${#modules[@]} modules × ${#targets[@]} targets, $refused refused; report: ${report#$repo/}" >&2
[ "$refused" -eq 0 ]
