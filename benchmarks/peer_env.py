"""The environment of every peer process (numpy, PyTorch) that benchmarks/compare.py and compare_training.py start: the
peer at its best on this machine, for that process only (the tests, CI and LRU.NET's own runs never see it).

- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset: this environment sets them for safety, and they hold OpenBLAS to its
  Haswell kernel, which halves sgemm on full-width AVX-512 (Zen 5: 93 -> 195 GFLOP/s at 1024^3, results correct either way).
- The allocator keeps freed memory for the next tensor instead of returning it to the kernel. With glibc's defaults every
  large PyTorch temporary is a fresh mapping whose pages fault in again on each use (the PyTorch runs spent as much time
  in the kernel as in user code). Where Debian's libtcmalloc-minimal4 is installed it is preloaded with
  TCMALLOC_RELEASE_RATE=0 (never give memory back); otherwise glibc is told MALLOC_MMAP_THRESHOLD_ = 32 MiB (its
  largest: bigger tensors are still mapped afresh) and MALLOC_TRIM_THRESHOLD_ = 16 GiB. Measured on 2026-12-03 (cpu
  family 26, PyTorch 1.13, 2 threads), tokens/s with glibc's defaults / glibc tuned / tcmalloc: the layer's forward +
  backward at (8, 1024, 128, 256) 11,510-20,978 / 53,057-60,262 / 59,124; the fashion-mnist model's training step
  14,795 / 24,875-25,270 / 29,657; the layer's forward + backward at (1, 65536, 128, 256) - / 1,284 / 37,857.
  (jemalloc with its default decay: 1,269 at the first shape.)
- OPENBLAS_NUM_THREADS is the run's thread count, so OpenBLAS's own pool matches torch.set_num_threads.
"""
import os

UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


def allocator():
    """The variables that keep the peer's freed memory: tcmalloc preloaded where installed, else glibc's thresholds."""
    if os.path.exists(TCMALLOC):
        return {"LD_PRELOAD": TCMALLOC, "TCMALLOC_RELEASE_RATE": "0"}
    return {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(16 << 30)}


def peer_env(threads):
    """The environment for a peer process running on `threads` threads."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(allocator())
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env
