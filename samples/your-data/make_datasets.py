#!/usr/bin/env python3
"""Writes the data sets of docs/your-data.md as numpy arrays, the way a user's own data arrives.

    /usr/bin/python3 samples/your-data/make_datasets.py OUT_DIR [digits] [fashion-rows] [oscillation]

Needs Debian's python3-numpy; digits needs python3-sklearn (its bundled copy of the UCI handwritten digits),
fashion-rows needs dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Nothing here is used by the tests.

digits        UCI optical digits (1,797 images of 8x8 pixels, 17 grey levels), read pixel by pixel: X (N, 64, 1)
              float64, y (N,) int64; a fixed 80/20 split (seed 0): digits_{train,test}_{x,y}.npy.
fashion-rows  Fashion-MNIST read one image row per step (28 steps of 28 pixels): X (N, 28, 28) uint8 as stored,
              y (N,) int64 (numpy's default): fashion_rows_{train,test}_{x,y}.npy. Not the built-in task's form
              (784 steps of one pixel, scaled to [0, 1]).
oscillation   A long-range regression made for this page: a noisy sine x_t = A sin(2 pi f t + phi) + e_t, e_t ~ N(0, 1),
              over a valid length n ~ U{500..1000} padded with zeros to L = 1000; targets (N, 2) float32 = (100 f, A) with
              f ~ U(0.005, 0.05) cycles per step and A ~ U(0.2, 1.0). The signal is at most as strong as the noise, so both
              need the whole sequence. oscillation_{train,test}_{x,y,lengths}.npy (6,000 and 1,000 sequences, seeds 1, 2).
"""
import gzip
import os
import struct
import sys

import numpy as np


def save(out, name, array):
    np.save(os.path.join(out, name + ".npy"), array)
    print(f"{name}.npy {array.dtype} {array.shape}")


def digits(out):
    from sklearn.datasets import load_digits
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    cut = int(0.8 * len(order))
    x = d.data.reshape(-1, 64, 1)  # float64 pixel values 0..16
    y = d.target.astype(np.int64)
    for part, idx in (("train", order[:cut]), ("test", order[cut:])):
        save(out, f"digits_{part}_x", x[idx])
        save(out, f"digits_{part}_y", y[idx])


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_rows(out, folder="/usr/share/datasets/fashion-mnist"):
    for part, prefix in (("train", "train"), ("test", "t10k")):
        save(out, f"fashion_rows_{part}_x", idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz")))  # (N, 28, 28) uint8
        save(out, f"fashion_rows_{part}_y", idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64))


def oscillation(out, length=1000):
    for part, count, seed in (("train", 6000, 1), ("test", 1000, 2)):
        g = np.random.default_rng(seed)
        f = g.uniform(0.005, 0.05, count)
        a = g.uniform(0.2, 1.0, count)
        phase = g.uniform(0, 2 * np.pi, count)
        n = g.integers(500, length + 1, count)
        t = np.arange(length)
        x = a[:, None] * np.sin(2 * np.pi * f[:, None] * t + phase[:, None]) + g.standard_normal((count, length))
        x[t[None, :] >= n[:, None]] = 0.0  # padding
        save(out, f"oscillation_{part}_x", x.astype(np.float32)[:, :, None])
        save(out, f"oscillation_{part}_y", np.stack([100 * f, a], axis=1).astype(np.float32))
        save(out, f"oscillation_{part}_lengths", n.astype(np.int64))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    wanted = set(sys.argv[2:]) or {"digits", "fashion-rows", "oscillation"}
    for name, make in (("digits", digits), ("fashion-rows", fashion_rows), ("oscillation", oscillation)):
        if name in wanted:
            make(out)


if __name__ == "__main__":
    main()
