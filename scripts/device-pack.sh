#!/usr/bin/env bash
# Packs add4j for a GPU machine that has CUDA PyTorch but no Java (the project's `device` tool) into
# .device/device-run.tar.xz, with ../shared/tools/device-pack (or $DEVICE_PACK).
# Only what the training commands need travels: the classes, libtorch's JNI glue, picocli and Jackson. MiniLM's
# 90 MB model stays behind (the commands read the captions' embeddings from --caption-cache instead), but
# ONNX Runtime's Java classes, without their native libraries, go along: the text encoder's class names them.
# Usage: scripts/device-pack.sh   (after mvn compile; a few minutes, mostly xz -9e)
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${DEVICE_PACK:-../shared/tools/device-pack}
[ -f target/add4j.classpath ] || { echo "no target/add4j.classpath: run ./add4j --help once (it builds)"; exit 1; }
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
ort=$(tr ':' '\n' < target/add4j.classpath | grep '/onnxruntime-[0-9.]*\.jar$')
(mkdir "$stage/ort" && cd "$stage/ort" && unzip -q "$ort" && rm -rf ai/onnxruntime/native && zip -q -r "$stage/ort-classes.jar" .)
cp=$(tr ':' '\n' < target/add4j.classpath | grep -E '/(pytorch|openblas|javacpp|picocli|jackson-[a-z]*)-[0-9]' | paste -sd:)
mkdir -p .device
XZ_OPT=-0 bash "$pack" "$stage/out" "$PWD/target/classes:$cp:$stage/ort-classes.jar"   # unpacked again below: fast xz
# The pack tool's Java runtime (java.desktop and more, jlink-compressed) does not xz well: 47 MB in all, too big
# to travel beside the data. The modules the training commands load, uncompressed, made 31 MB; java.desktop
# (ImageIO, for `add4j eval`'s grids and the sample PNGs) adds 4.5 MB (the runtime alone, tar | xz -6: 12.3 -> 16.8 MB).
mkdir "$stage/run" && tar -xJf "$stage/out/device-run.tar.xz" -C "$stage/run" && rm -rf "$stage/run/jre"
jdk=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
"$jdk/bin/jlink" --add-modules java.base,java.logging,java.xml,jdk.unsupported,java.desktop --strip-debug --no-header-files \
    --no-man-pages --output "$stage/run/jre"
tar -cf - -C "$stage/run" . | xz ${XZ_OPT:--9e -T1} > .device/device-run.tar.xz
echo "wrote .device/device-run.tar.xz ($(du -h .device/device-run.tar.xz | cut -f1))"
