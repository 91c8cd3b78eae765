"""The environment of every peer process (numpy, PyTorch) that benchmarks/compare.py and compare_training.py start: the
peer at its best on this machine, for that process only (the tests, CI and LRU.NET's own runs never see it).

- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset: this environment sets them for safety, and they hold OpenBLAS to its
  Haswell kernel, which halves sgemm on full-width AVX-512 (Zen 5: 93 -> 195 GFLOP/s at 1024^3, results correct either way).
- glibc's allocator keeps freed memory instead of returning it to the kernel: MALLOC_MMAP_THRESHOLD_ = 32 MiB (glibc's
  largest) serves every tensor up to that size from the heap rather than from a fresh mmap, and MALLOC_TRIM_THRESHOLD_ =
  16 GiB never trims the heap. Without them every large PyTorch temporary is a new mapping whose pages fault in again
  on each use (the PyTorch runs spent as much time in the kernel as in user code); measured on 2026-12-03 (cpu family 26,
  PyTorch 1.13, 2 threads): the layer's forward + backward at (8, 1024, 128, 256) 11,510-20,978 -> 53,057-58,026
  tokens/s, the fashion-mnist model's training step 14,795 -> 25,270 tokens/s (tcmalloc preloaded gave the same
  53,655-54,967; jemalloc with its default decay 1,269).
- OPENBLAS_NUM_THREADS is the run's thread count, so OpenBLAS's own pool matches torch.set_num_threads.
"""
import os

UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(16 << 30)}


def peer_env(threads):
    """The environment for a peer process running on `threads` threads."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(MALLOC)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env

