#!/usr/bin/env bash
# Wheels the GPU machine (device tool: Python 3.12, torch 2.11, no network) lacks, into .whl/:
# PyAV for kinetix, and MMAction2 1.2.0's pure-Python stack for the baseline.
#
#   bash tools/dev/fetch_gpu_wheels.sh          # here, with network
#   then, through the device tool: run(command="bash tools/dev/gpu_benchmark.sh", carry=[".whl"])
set -euo pipefail
cd "$(dirname "$0")/../.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
rm -rf .whl && mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl av==18.1.0
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
    mmaction2==1.2.0 mmengine==0.10.7 importlib_metadata addict yapf termcolor platformdirs \
    lazy-loader einops
# mmcv-lite 2.1.0 ships as a source archive only: build its (pure-Python) wheel here.
python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl mmcv-lite==2.1.0
ls -la .whl && du -sh .whl
