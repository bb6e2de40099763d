#!/usr/bin/env bash
# Distils the shipped teacher into a student on a GPU machine that has CUDA PyTorch but no Java (the project's
# `device` tool), with the shipped student's two-stage recipe (models/README.md) at GPU scale:
#   A. all-warm-up runs: the student regresses onto the teacher's DDIM samples (--ode-warmup); a second setting
#      (W2_*) runs beside the first when W2_BATCH is set; W_INIT fine-tunes a student file (carried in .device/)
#      instead of the teacher, W_SCHED=cosine decays its learning rate, W_SEED picks other pairs;
#   B. ADD runs from A's best snapshot (--init-from, --cond text+img-if-seen), two settings side by side on the GPU;
#      skipped when ADD_MIN is 0.
# Each run keeps its best 1-step EMA snapshot by FID (--eval-every, n 500) and stops by the clock (--max-minutes).
# Carried in .device/ (ignored): device-run.tar.xz (scripts/device-pack.sh), data/ (Fashion-MNIST, train images as
# .xz to fit the 64 MiB carry limit: scripts/device-data.py) and captions.safetensors (the captions' MiniLM
# embeddings: no MiniLM there).
# `add4j eval` can run there too (with --caption-cache for its prompts and --data for its reference): the pack now
# carries java.desktop, which its grids need. Checked here with the same jlink runtime; not yet run on a device.
# Its runs (an H100, then an H200) are in models/README.md.
# Usage there: scripts/device-distill.sh [DEVICE]   (default cuda; the settings below can be overridden by env)
# Writes to $OUT (or ./device-out): one .tar.gz per run (config, logs, student-best.safetensors), gpu.txt.
set -uo pipefail
device=${1:-cuda}
out=${OUT:-$PWD/device-out}; mkdir -p "$out"
rt=/tmp/add4j-rt; data=/tmp/add4j-data; runs=/tmp/add4j-runs
WARM_MIN=${WARM_MIN:-4.5} ADD_MIN=${ADD_MIN:-2.5}
W_BATCH=${W_BATCH:-128} W_STEPS=${W_STEPS:-40000} W_LR=${W_LR:-2e-4} W_PAIRS=${W_PAIRS:-16384} W_TSTEPS=${W_TSTEPS:-48} W_EVAL=${W_EVAL:-1000} W_EMA=${W_EMA:-0.999}
W_INIT=${W_INIT:-} W_SCHED=${W_SCHED:-constant} W_SEED=${W_SEED:-0}
W2_BATCH=${W2_BATCH:-} W2_LR=${W2_LR:-$W_LR} W2_PAIRS=${W2_PAIRS:-$W_PAIRS}
B_STEPS=${B_STEPS:-2000} B_EVAL=${B_EVAL:-25} B_LR=${B_LR:-1e-5} B1_BATCH=${B1_BATCH:-32} B2_BATCH=${B2_BATCH:-128}
EVAL_N=${EVAL_N:-500}
mkdir -p "$rt" "$data" "$runs"
[ -x "$rt/run.sh" ] || tar -xJf .device/device-run.tar.xz -C "$rt" || exit 1
python3 - <<'PY' || exit 1
import gzip, lzma, shutil
with lzma.open('.device/data/train-images-idx3-ubyte.xz') as src, gzip.open('/tmp/add4j-data/train-images-idx3-ubyte.gz', 'wb', compresslevel=1) as dst:
    shutil.copyfileobj(src, dst)
PY
cp .device/data/*.gz "$data/"
export OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || echo "$device" > "$out/gpu.txt"
run() { "$rt/run.sh" dev.add4j.cli.Main "$@"; }
common=(--data "$data" --device "$device" --caption-cache .device/captions.safetensors
        --features models/features-sup-fmnist.safetensors --eval-n "$EVAL_N" --sample-every 0 --checkpoint-every 5000)
keep() { # run name: its small files and best snapshot, as one archive
    local d=$runs/$1; [ -d "$d" ] || return 0
    tar -czf "$out/$1.tar.gz" -C "$d" $(cd "$d" && ls config.json metrics.jsonl eval.jsonl console.log student-best.safetensors 2>/dev/null)
}
t0=$(date +%s)
warm() { # run name, batch, lr, pairs
    mkdir -p "$runs/$1"
    run distill "${common[@]}" --out "$runs/$1" --batch "$2" --steps "$W_STEPS" --ode-warmup "$W_STEPS" --ode-lr "$3" \
        --ode-pairs "$4" --ode-teacher-steps "$W_TSTEPS" --eval-every "$W_EVAL" --ema "$W_EMA" \
        --ode-lr-schedule "$W_SCHED" --seed "$W_SEED" ${W_INIT:+--init-from "$W_INIT"} \
        --log-every "${W_LOG:-500}" --max-minutes "$WARM_MIN" > "$runs/$1/console.log" 2>&1
    echo "A $1 exit $? after $(( $(date +%s) - t0 )) s"
}
echo "== A: warm-up, batch $W_BATCH, lr $W_LR, $W_PAIRS pairs of ${W_TSTEPS}-step DDIM, ${WARM_MIN} min"
warm w "$W_BATCH" "$W_LR" "$W_PAIRS" &
[ -n "$W2_BATCH" ] && { echo "   and beside it batch $W2_BATCH, lr $W2_LR, $W2_PAIRS pairs"; warm w2 "$W2_BATCH" "$W2_LR" "$W2_PAIRS" & }
wait
for w in w w2; do [ -d "$runs/$w" ] || continue; echo "-- $w"; grep -E "^(distill|ode|eval|wrote)|rror" "$runs/$w/console.log" | tail -30; keep "$w"; done
[ "$ADD_MIN" = 0 ] && { echo "total $(( $(date +%s) - t0 )) s"; ls -la "$out"; exit 0; }
[ -f "$runs/w/student-best.safetensors" ] || exit 1
echo "== B: ADD from A's best, lr $B_LR, batches $B1_BATCH and $B2_BATCH side by side, ${ADD_MIN} min"
for b in 1 2; do
    bs=$([ $b = 1 ] && echo "$B1_BATCH" || echo "$B2_BATCH"); mkdir -p "$runs/b$b"
    run distill "${common[@]}" --out "$runs/b$b" --init-from "$runs/w/student-best.safetensors" --cond text+img-if-seen \
        --student-lr "$B_LR" --batch "$bs" --steps "$B_STEPS" --eval-every "$B_EVAL" --log-every 50 --max-minutes "$ADD_MIN" \
        > "$runs/b$b/console.log" 2>&1 &
done
wait
for b in 1 2; do echo "-- b$b"; grep -E "^(distill|eval|wrote)|rror" "$runs/b$b/console.log" | tail -25; keep "b$b"; done
echo "total $(( $(date +%s) - t0 )) s"; ls -la "$out"
