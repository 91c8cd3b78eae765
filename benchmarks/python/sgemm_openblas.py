#!/usr/bin/env python3
"""Reference SGEMM throughput of numpy/OpenBLAS for the shapes tuned by Lru's managed GEMM.

Run with the system interpreter, two threads, in the peers' environment (benchmarks/peer_env.py: without the OpenBLAS
workaround variables that pin an older, slower kernel, and with an allocator that keeps freed memory: tcmalloc, if installed):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 TCMALLOC_RELEASE_RATE=0 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 sgemm_openblas.py

Prints one line per shape (GFLOP/s = 2*m*n*k / best time) and a final JSON line.
"""
import json
import os
import sys
import time

# Must be set before numpy (and so OpenBLAS) is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402

from blas_info import openblas_info  # noqa: E402

# (m, k, n): C[m x n] = A[m x k] @ B[k x n]
SHAPES = [(1024, 1024, 1024), (8192, 128, 512), (8192, 512, 128)]
REPEATS = int(os.environ.get("SGEMM_REPEATS", "20"))


def bench(m, k, n, rng):
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    for _ in range(3):
        np.matmul(a, b, out=c)
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * m * n * k / best / 1e9, best


def main():
    rng = np.random.default_rng(1234)
    results = []
    for m, k, n in SHAPES:
        gflops, best = bench(m, k, n, rng)
        print(f"sgemm m={m} k={k} n={n}: {gflops:8.1f} GFLOP/s (best of {REPEATS}: {best * 1e3:.3f} ms)")
        results.append({"m": m, "k": k, "n": n, "gflops": round(gflops, 2), "best_ms": round(best * 1e3, 4)})
    path, config, core, threads = openblas_info()
    print(json.dumps({
        "numpy": np.__version__,
        "openblas": path,
        "config": config,
        "corename": core,
        "threads": threads,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "results": results,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
