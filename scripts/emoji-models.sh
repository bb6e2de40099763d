#!/usr/bin/env bash
# The emoji set's models, as models/README.md ("The emoji set's models") records them, from where the last sitting
# stopped: every step resumes or skips what is done, so the script can be run again after any stop. Both cores: each
# training runs as 2 ranks x 1 thread (README, "Several processes and machines").
# Usage: [ADD4J_RUNS=DIR] scripts/emoji-models.sh [MAX_MINUTES_PER_TRAINING]
# ADD4J_RUNS: where the runs go (default runs/); a directory outside the work tree outlives a work tree laid anew.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
minutes=${1:-0}
R=${ADD4J_RUNS:-runs}
[ -f data/emoji/captions.csv ] || ./add4j data emoji --out data/emoji
net=models/evalnet-emoji.safetensors features=models/features-emoji.safetensors
[ -f "$net" ] || ./add4j train-eval-net --data data/emoji --out "$net" --steps 2000 --batch 256 --seed 0
[ -f "$features" ] || ./add4j train-features --data data/emoji --arch small --stem conv --steps 1500 --batch 128 --lr 1e-3 \
    --masked-tokens 1 --targets sinkhorn --koleo 0.1 --contrastive 1 --teacher-momentum 0.99 --checkpoint-every 250 --out "$features"

# 1. the teacher: 5,000 steps at batch 128
resume=""; [ -d $R/emoji-teacher/checkpoint ] && resume="--resume"
./add4j launch --nproc 2 train-teacher --data data/emoji --out $R/emoji-teacher --batch 128 --lr 4e-4 --warmup 300 \
    --steps 5000 --checkpoint-every 250 --max-minutes "$minutes" $resume
grep -q '"step":5000' $R/emoji-teacher/train-log.jsonl || { echo "teacher not finished: run again"; exit 0; }
teacher=$R/emoji-teacher/teacher.safetensors

# 2. its evaluation: DDIM at 1, 4 and 50 steps, 2,000 images against the 700 held-out test images
[ -f $R/emoji-eval-teacher/metrics.json ] || ./add4j launch --nproc 2 eval --model "$teacher" --data data/emoji --eval-net "$net" \
    --steps 1,4,50 --n 2000 --out $R/emoji-eval-teacher

# 3. the student: add4j's recipe (distill's defaults), 2,000 iterations, the best 1-step student of an evaluation every 100
resume=""; [ -d $R/emoji-student/checkpoint ] && resume="--resume"
./add4j launch --nproc 2 distill --data data/emoji --teacher "$teacher" --features "$features" --eval-net "$net" \
    --steps 2000 --batch 32 --eval-every 100 --eval-n 500 --checkpoint-every 50 --max-minutes "$minutes" --out $R/emoji-student $resume
[ -f $R/emoji-eval-student/metrics.json ] || ./add4j launch --nproc 2 eval --model $R/emoji-student/student-best.safetensors \
    --data data/emoji --eval-net "$net" --steps 1,2,4 --n 2000 --out $R/emoji-eval-student

# 4. the figure of 16 unseen prompts
scripts/emoji-prompts-figure.sh $R/emoji-student/student-best.safetensors
echo "done: copy the teacher and student (fp16) into models/ with their logs, as models/README.md says"
