#!/usr/bin/env python3
"""Reference SGEMM throughput of numpy/OpenBLAS for the shapes tuned by Lru's managed GEMM.

Run with the system interpreter, two threads, and without the OpenBLAS workaround variables
that pin an older (slower) kernel:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 /usr/bin/python3 sgemm_openblas.py

Prints one line per shape (GFLOP/s = 2*m*n*k / best time) and a final JSON line.
"""
import ctypes
import json
import os
import sys
import time

# Must be set before numpy (and so OpenBLAS) is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402

# (m, k, n): C[m x n] = A[m x k] @ B[k x n]
SHAPES = [(1024, 1024, 1024), (8192, 128, 512), (8192, 512, 128)]
REPEATS = int(os.environ.get("SGEMM_REPEATS", "20"))


def openblas_info():
    """Returns (config, corename, threads) of the OpenBLAS numpy loaded, read via ctypes."""
    candidates = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and ".so" in fields[-1] and "blas" in fields[-1].lower():
                    candidates.append(fields[-1])
    except OSError:
        pass
    # Prefer the OpenBLAS library itself over the BLAS/LAPACK shims that link to it.
    candidates.sort(key=lambda p: (0 if "libopenblas" in p else 1 if "libblas" in p else 2))
    path = candidates[0] if candidates else None
    if path is None:
        return None, None, None, None
    lib = ctypes.CDLL(path)
    config = core = threads = None
    for name in ("openblas_get_config", "openblas_get_config64_"):
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            config = fn().decode()
            break
    for name in ("openblas_get_corename", "openblas_get_corename64_"):
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            core = fn().decode()
            break
    for name in ("openblas_get_num_threads", "openblas_get_num_threads64_"):
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_int
            threads = fn()
            break
    return path, config, core, threads


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
        "results": results,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
