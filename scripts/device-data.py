#!/usr/bin/env python3
"""Writes .device/data/ for the GPU scripts (scripts/device-distill.sh, device-train-teacher.sh): the first N
Fashion-MNIST training images (as .xz, to fit the 64 MiB that may travel) and labels, and the test files.

Usage: scripts/device-data.py N [SRC]   (SRC: default /usr/share/datasets/fashion-mnist)
The captions' cache beside it: ./add4j train-teacher --data SRC --caption-cache .device/captions.safetensors --steps 1 --out /tmp/x
"""
import gzip, lzma, os, shutil, struct, sys

n = int(sys.argv[1])
src = sys.argv[2] if len(sys.argv) > 2 else '/usr/share/datasets/fashion-mnist'
dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '.device', 'data')
os.makedirs(dst, exist_ok=True)
with gzip.open(os.path.join(src, 'train-images-idx3-ubyte.gz')) as f:
    b = f.read()
magic, total, rows, cols = struct.unpack('>IIII', b[:16])
if not 0 < n <= total:
    sys.exit(f'N must be in 1..{total}')
with lzma.open(os.path.join(dst, 'train-images-idx3-ubyte.xz'), 'wb', preset=6) as f:
    f.write(struct.pack('>IIII', magic, n, rows, cols) + b[16:16 + n * rows * cols])
with gzip.open(os.path.join(src, 'train-labels-idx1-ubyte.gz')) as f:
    l = f.read()
with gzip.open(os.path.join(dst, 'train-labels-idx1-ubyte.gz'), 'wb') as f:
    f.write(struct.pack('>II', struct.unpack('>I', l[:4])[0], n) + l[8:8 + n])
for name in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
    shutil.copy(os.path.join(src, name), dst)
print(f'wrote {dst}: {n} training images')
