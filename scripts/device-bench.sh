#!/usr/bin/env bash
# Runs `add4j bench --device cuda --json` on a GPU machine that has CUDA PyTorch but no Java (the project's `device` tool).
# Carried in .device/ (ignored): device-run.tar.xz (../shared/tools/device-pack) and captions.safetensors, the captions'
# MiniLM embeddings (there is no ONNX text model there; `add4j train-teacher --caption-cache FILE` writes one).
# The models come with the working tree (models/). Not yet run on a GPU.
# Usage there: scripts/device-bench.sh [DEVICE] [BENCH OPTIONS...]   (DEVICE default cuda; e.g. --batches 1,64,256)
# Writes $OUT (or ./device-out)/bench.json and bench.log (progress), and prints a summary.
set -euo pipefail
device=${1:-cuda}; [ $# -gt 0 ] && shift
out=${OUT:-$PWD/device-out}; mkdir -p "$out"
rt=/tmp/add4j-rt
mkdir -p "$rt"
[ -x "$rt/run.sh" ] || tar -xJf .device/device-run.tar.xz -C "$rt"
export OPENBLAS_NUM_THREADS=1
export OPENBLAS_CORETYPE=Haswell
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || true
"$rt/run.sh" dev.add4j.cli.Main bench --device "$device" --caption-cache .device/captions.safetensors --json "$@" \
    > "$out/bench.json" 2> "$out/bench.log" || { tail -20 "$out/bench.log"; exit 1; }
python3 - "$out/bench.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"bench on {r['device']}, {r['threads']} threads; student {r['models']['student']}")
for x in r['inference']:
    print(f"  {x['model']:8s} {x['sampler']:5s} {x['steps']:3d} steps  batch {x['batch']:4d}: {x['ms_per_image']:9.3f} ms/image "
          f"{x['images_per_s']:9.1f} images/s  {x['gflop_per_s']:8.1f} GFLOP/s  ({x['runs']} runs)")
for s in r['speedups']:
    print(f"  speedup at batch {s['batch']}: {s['speedup']:.1f}x (student {s['student_steps']} vs teacher {s['teacher_steps']} steps)")
t = r.get('training')
if t:
    print(f"  ADD iteration at batch {t['batch']}: {t['ms_per_iteration']:.1f} ms ({t['ms_per_iteration_timed']:.1f} ms timed by phase)")
    for p in t['phases']:
        print(f"    {p['phase']:14s} {p['ms']:8.2f} ms {100 * p['share']:5.1f}%  {p['gflop']:8.3f} GFLOP {p['gflop_per_s']:9.1f} GFLOP/s")
PY
cat "$out/gpu.txt" 2>/dev/null || true
