"""Which OpenBLAS a peer process runs, read from the process itself (no threadpoolctl needed).

The peers (numpy, PyTorch) are measured at their best: benchmarks/compare.py starts them without OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE, which this environment sets for safety and which pin OpenBLAS to a Haswell kernel, and with
an allocator that keeps freed memory (benchmarks/peer_env.py). Every peer's JSON line records the kernel OpenBLAS chose
(openblas_get_corename) and those variables, so a figure says what it was measured against.
"""
import ctypes
import os


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

    def call(names, restype):
        """The first of the functions (plain or 64-bit-index build) the library has, called without arguments."""
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = restype
                value = fn()
                return value.decode() if isinstance(value, bytes) else value
        return None

    config = call(("openblas_get_config", "openblas_get_config64_"), ctypes.c_char_p)
    core = call(("openblas_get_corename", "openblas_get_corename64_"), ctypes.c_char_p)
    threads = call(("openblas_get_num_threads", "openblas_get_num_threads64_"), ctypes.c_int)
    return path, config, core, threads


def peer_fields():
    """The fields every peer JSON line carries: the OpenBLAS library, its kernel and threads, and the variables of benchmarks/peer_env.py."""
    path, config, core, threads = openblas_info()
    return {"openblas": path, "openblas_config": config, "openblas_corename": core, "openblas_threads": threads,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
            **{k: os.environ.get(k) for k in ("LD_PRELOAD", "TCMALLOC_RELEASE_RATE", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}}
