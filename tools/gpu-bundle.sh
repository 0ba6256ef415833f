#!/usr/bin/env bash
# Builds .gpu/ (git-ignored) for tools/gpu-check.sh on a GPU machine that has no .NET and no network:
#   .gpu/dotnet-runtime.tar.xz   the local SDK's runtime: the dotnet muxer, host/fxr, shared/Microsoft.NETCore.App
#   .gpu/app.tar.xz              framework-dependent builds of the Host (artar), the tests and the benchmarks
#   .gpu/data/ptb/*.txt          the PTB files from $ARTAR_DATA or data/ (the data folder does not travel by itself)
# Usage: bash tools/gpu-bundle.sh      (then: one device run with carry [".gpu"], timeout_s 570, command
#                                      "bash tools/gpu-check.sh"; docs/gpu-log.md)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
version=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')
[ -n "$version" ] || { echo "gpu-bundle: no Microsoft.NETCore.App runtime found under $root"; exit 1; }
data="${ARTAR_DATA:-data}"   # the data folder, as everywhere: $ARTAR_DATA, else data/ (artar data get ptb)
[ -f "$data/ptb/train.txt" ] || { echo "gpu-bundle: $data/ptb/train.txt not found; set ARTAR_DATA to the data folder"; exit 1; }

rm -rf .gpu && mkdir -p .gpu/data .gpu/stage
echo "gpu-bundle: runtime $version from $root"
tar -C "$root" -cJf .gpu/dotnet-runtime.tar.xz dotnet host "shared/Microsoft.NETCore.App/$version"

echo "gpu-bundle: framework-dependent builds"
for p in src/Host/ArTar.Host.csproj tests/ArTar.Tests/ArTar.Tests.csproj tools/Bench/ArTar.Bench.csproj; do
  name=$(basename "$(dirname "$p")")
  # linux-x64 only: the native assets of other platforms (ScottPlot's SkiaSharp, …) stay behind.
  dotnet publish "$p" -c Release -r linux-x64 --no-self-contained -o ".gpu/stage/$name" -p:UseAppHost=false \
    -p:ArTarTorchReference=false > .gpu/publish.log 2>&1 || { tail -20 .gpu/publish.log; echo "gpu-bundle: publishing $p failed"; exit 1; }
done
cp -r config .gpu/stage/config
tar -C .gpu/stage -cJf .gpu/app.tar.xz .
rm -rf .gpu/stage .gpu/publish.log
cp -r "$data/ptb" .gpu/data/ptb
git rev-parse HEAD > .gpu/commit 2>/dev/null || echo unknown > .gpu/commit
du -sh .gpu/* | sed 's/^/gpu-bundle: /'
total=$(du -sm .gpu | cut -f1)
echo "gpu-bundle: .gpu is ${total} MB (limit of what travels: 64 MiB)"
[ "$total" -lt 60 ] || { echo "gpu-bundle: too large"; exit 1; }
