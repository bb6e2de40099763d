#!/usr/bin/env bash
# Trains the shipped teacher on a GPU machine that has CUDA PyTorch but no Java (the project's `device` tool).
# Carried in .device/ (ignored): device-run.tar.xz (../shared/tools/device-pack), the Fashion-MNIST training
# files (images as .xz to fit the 64 MiB carry limit) and the captions' MiniLM embeddings (no ONNX model there).
# Usage there: scripts/device-train-teacher.sh SECONDS [DEVICE]   (outputs go to $OUT, or ./device-out;
# PROBE_STEPS sets the length of the speed probe, default 60)
set -euo pipefail
budget=${1:?training seconds}; device=${2:-cuda}
out=${OUT:-$PWD/device-out}; mkdir -p "$out"
rt=/tmp/add4j-rt; data=/tmp/add4j-data
mkdir -p "$rt" "$data"
[ -x "$rt/run.sh" ] || tar -xJf .device/device-run.tar.xz -C "$rt"
python3 - <<'PY'
import gzip, lzma, shutil
with lzma.open('.device/data/train-images-idx3-ubyte.xz') as src, gzip.open('/tmp/add4j-data/train-images-idx3-ubyte.gz', 'wb', compresslevel=1) as dst:
    shutil.copyfileobj(src, dst)
PY
cp .device/data/*.gz "$data/"
export OPENBLAS_NUM_THREADS=1
export OPENBLAS_CORETYPE=Haswell
run() { "$rt/run.sh" dev.add4j.cli.Main "$@"; }
common=(--data "$data" --batch 256 --device "$device" --caption-cache .device/captions.safetensors)
# 1. a short probe measures steps per second, so the real run's cosine schedule ends inside the budget
rm -rf /tmp/probe
run train-teacher "${common[@]}" --out /tmp/probe --steps ${PROBE_STEPS:-60} --checkpoint-every 0 | tail -2
rate=$(python3 -c "import json;print(json.loads(open('/tmp/probe/train-log.jsonl').readlines()[-1])['it_per_s'])")
steps=$(python3 -c "print(max(100, int($rate * $budget * 0.92)))")
echo "probe: $rate it/s -> $steps steps in ${budget}s"
# 2. the real run, with a hard stop at the budget (it checkpoints and writes the model when it stops)
rm -rf /tmp/teacher
run train-teacher "${common[@]}" --out /tmp/teacher --steps "$steps" --lr 4e-4 --warmup 300 \
    --max-minutes "$(python3 -c "print($budget / 60 + 0.3)")" --checkpoint-every 2000 | tee "$out/train-teacher.log" | grep -E "^(teacher|step [0-9]*000/|wrote|time)" || true
cp /tmp/teacher/teacher.safetensors /tmp/teacher/config.json /tmp/teacher/train-log.jsonl "$out/"
ls -la "$out"
