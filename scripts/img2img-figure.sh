#!/usr/bin/env bash
# README's image-to-image figure (docs/img2img.png): a sketch and Fashion-MNIST test image 0, each at strength
# 0.25 / 0.5 / 0.75 / 1.0 from the shipped student at 4 steps. Usage: scripts/img2img-figure.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-out/img2img-figure}
data=${ADD4J_DATA:-/usr/share/datasets/fashion-mnist}
./add4j --help > /dev/null   # builds the project when needed
export OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
java -cp "target/classes:$(cat target/add4j.classpath)" scripts/Img2ImgInputs.java docs/img2img "$data"
./add4j sample --model models/student-fmnist.safetensors --prompt "a photo of an ankle boot" \
    --init-image docs/img2img --strength 0.25,0.5,0.75,1.0 --steps 4 --n 1 --seed 0 --out "$out"
cp "$out/grid.png" docs/img2img.png
echo "figure: docs/img2img.png (rows: $(ls docs/img2img | tr '\n' ' '))"
