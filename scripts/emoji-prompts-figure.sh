#!/usr/bin/env bash
# The emoji student's figure (docs/emoji-prompts.png): 16 prompts no training image has as a caption, 4 seeds each,
# one step. The first 8 name held-out test emoji (kinds the training split never shows), the last 8 are free text.
# Usage: scripts/emoji-prompts-figure.sh [MODEL [OUT_DIR]]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model=${1:-models/student-emoji.safetensors}
out=${2:-out/emoji-prompts}
[ -f data/emoji/captions.csv ] || { echo "no data/emoji: ./add4j data emoji --out data/emoji" >&2; exit 1; }
while IFS= read -r p; do   # unseen: no training row has the prompt as its caption
  if grep -qiE "^\"?[^,]*\"?,\"?$p\"?,train$" data/emoji/captions.csv; then echo "'$p' is a training caption" >&2; exit 1; fi
done < docs/emoji-prompts.txt
./add4j sample --model "$model" --prompts docs/emoji-prompts.txt --steps 1 --n 4 --seed 0 --out "$out"
cp "$out/grid.png" docs/emoji-prompts.png
echo "figure: docs/emoji-prompts.png"
