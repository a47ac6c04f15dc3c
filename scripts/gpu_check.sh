#!/usr/bin/env bash
# The one prepared check for a GPU machine (planned for under 8 minutes on one GPU):
#   1. installs the project the README's way (make's virtual environment),
#   2. runs the device-specific tests on CUDA (tests/test_device.py: samplers, training step,
#      bf16, compile),
#   3. trains the report's baseline U-Net for one epoch at the paper profile's settings (all
#      60,000 images, batch 256) and prints images/s,
#   4. executes one study chapter (normalization, seed 0) at the paper profile with papermill,
#      capped at CHAPTER_TIMEOUT seconds (default 240).
# Everything it prints is kept in results/gpu-check/<GPU name>/ (log.txt, train.json, the
# executed notebook).
#
#   scripts/gpu_check.sh            # on the GPU machine
#   scripts/gpu_check.sh --dry-run  # the same steps on this machine's CPU, at smoke size
#
# MNIST: $DDPM_MNIST_DATA, else ../shared/data when it exists, else a torchvision download.
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
if [ -z "${DDPM_MNIST_DATA:-}" ] && [ -d ../shared/data ]; then export DDPM_MNIST_DATA="$(cd ../shared/data && pwd)"; fi

if [ "$DRY" = 1 ]; then
    DEVICE=cpu; PROFILE=smoke; NAME=dry-run-cpu; SUBSET="--subset 512"
else
    DEVICE=cuda; PROFILE=paper; SUBSET=""
    NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' /' '__')
fi
OUT="results/gpu-check/$NAME"
[ "$DRY" = 1 ] && OUT="${GPU_CHECK_OUT:-_build/gpu-check/$NAME}"   # a dry run publishes nothing
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
exec > >(tee "$OUT/log.txt") 2>&1
echo "gpu_check: device $DEVICE, profile $PROFILE, $(date -u +%FT%TZ), commit $(git rev-parse --short=12 HEAD)"

echo "== 1. install"
SECONDS=0
make .venv/.installed > /dev/null
.venv/bin/python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
echo "   $SECONDS s"

echo "== 2. device tests"
SECONDS=0
DDPM_TEST_DEVICE=$DEVICE .venv/bin/python -m pytest -q tests/test_device.py tests/test_sampling.py -p no:cacheprovider -k "not gpu_check"
echo "   $SECONDS s"

echo "== 3. one epoch of the baseline U-Net (batch 256)"
SECONDS=0
.venv/bin/ddpm-mnist train --epochs 1 --batch-size 256 $SUBSET --device "$DEVICE" --out "$WORK/train" --quiet | tee "$OUT/train.json"
.venv/bin/python -c "import json, sys; r = json.load(open(sys.argv[1])); print(f\"   {r['images_seen'] / r['wall_time_s']:.0f} images/s over {r['images_seen']:,} images\")" "$OUT/train.json"
echo "   $SECONDS s"

echo "== 4. the normalization chapter at the $PROFILE profile (seed 0), papermill"
SECONDS=0
STATUS=0
.venv/bin/jupytext --to ipynb --output "$WORK/normalization.ipynb" book/normalization.md > /dev/null
if (cd book && timeout "${CHAPTER_TIMEOUT:-240}" ../.venv/bin/papermill "$WORK/normalization.ipynb" "$OUT/normalization.ipynb" \
        -p profile "$PROFILE" -p device "$DEVICE" -y "seeds: [0]" -p results_dir "$WORK/results" --progress-bar); then
    echo "   chapter executed in $SECONDS s"
else
    STATUS=$?
    echo "   chapter did not finish (exit $STATUS after $SECONDS s; 124 is the timeout)"
fi
echo "gpu_check: done"
exit "$STATUS"
