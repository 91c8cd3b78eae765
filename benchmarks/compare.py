#!/usr/bin/env python3
"""LRU.NET against its peers on this machine, in one run, with the ratios printed next to each other.

Every figure comes from `lru bench ... --json` (the CLI in src/Lru.Cli) and, for the peers, from
benchmarks/python/torch_lru.py (PyTorch 1.13 CPU) and benchmarks/python/sgemm_openblas.py
(numpy/OpenBLAS). The peers need Debian's python3-torch, python3-numpy and libopenblas0-pthread;
without them only LRU.NET's columns are filled. Run it with Debian's interpreter:

    /usr/bin/python3 benchmarks/compare.py                       # every section, 2 threads
    /usr/bin/python3 benchmarks/compare.py gemm train --threads 2
    /usr/bin/python3 benchmarks/compare.py all --out docs/plots/performance.jsonl   # also keep the rows

Sections: peak (this machine's FMA peak, memory and L2 bandwidth), gemm, forward, train (layer and block, forward +
backward), model (a whole training step and eval forward of the fashion-mnist model), step (streaming latency), scan
(forward scan vs memory bandwidth), length (L from 256 to 65,536), threads (1..cores).

Peers at their best (benchmarks/peer_env.py): every numpy/PyTorch process runs without OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE (this environment's safety pins, which hold OpenBLAS to its Haswell kernel) and with an allocator that
keeps freed memory (tcmalloc preloaded where Debian's libtcmalloc-minimal4 is installed, else glibc's thresholds raised:
with glibc's defaults PyTorch's large temporaries fault their pages in again on every use, 2-5x slower, 30x at
L = 65,536); only those processes, never the tests or CI. Each peer reports the
OpenBLAS kernel it ran and those variables (benchmarks/python/blas_info.py), and the last line prints them.
With --out, every measurement is also written as one JSON object per line, which
docs/plots/plot_performance.py turns into the pictures of docs/performance.md.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "src", "Lru.Cli", "bin", "Release", "net10.0", "Lru.Cli.dll")
PY = "/usr/bin/python3"
SHAPES = [(8, 1024, 128, 256), (1, 4096, 64, 64)]
SECTIONS = ["peak", "gemm", "forward", "train", "model", "step", "scan", "length", "threads"]

# The peers' environment (benchmarks/peer_env.py): the OpenBLAS pins removed, an allocator that keeps freed
# memory, OpenBLAS's own pool limited to the thread count; for their processes only.
from peer_env import allocator, peer_env  # noqa: E402


def last_json(args, env=None):
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def lru(*args):
    return last_json(["dotnet", CLI, "bench", *map(str, args), "--json"])


def has(module):
    return subprocess.run([PY, "-c", f"import {module}"], capture_output=True).returncode == 0


class Run:
    def __init__(self, threads, seconds, out):
        self.threads, self.seconds, self.out = threads, seconds, out
        self.torch, self.numpy = has("torch"), has("numpy")
        self.rows = []
        self.kernel = None  # the OpenBLAS kernel the peers ran, as they report it

    def torch_lru(self, mode, b, l, h, n, threads=None, impl="both", seconds=None, extra=()):
        if not self.torch:
            return None
        args = [PY, os.path.join(ROOT, "benchmarks", "python", "torch_lru.py"), "--mode", mode, "--batch", b, "--length", l,
                "--hidden", h, "--state", n, "--threads", threads or self.threads, "--seconds", seconds or self.seconds, "--impl", impl, *extra]
        d = last_json([str(a) for a in args], env=peer_env(threads or self.threads))
        self.kernel = d.get("openblas_corename") or self.kernel
        return d

    def record(self, section, **fields):
        row = {"section": section, **fields}
        self.rows.append(row)
        if self.out:
            with open(self.out, "a") as f:
                f.write(json.dumps(row) + "\n")


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def gemm(r):
    print("\nSGEMM C = A·B, GFLOP/s (higher is better)")
    print(f"{'m×k×n':18} {'LRU.NET':>10} {'OpenBLAS':>10} {'ratio':>8}")
    blas = {}
    if r.numpy:
        env = peer_env(r.threads)
        d = last_json([PY, os.path.join(ROOT, "benchmarks", "python", "sgemm_openblas.py")], env=env)
        blas = {(x["m"], x["k"], x["n"]): x["gflops"] for x in d["results"]}
        r.kernel = d.get("corename") or r.kernel
        print(f"  (OpenBLAS {d.get('corename')} kernel, {d.get('threads')} threads)")
    for m, k, n in [(1024, 1024, 1024), (8192, 128, 512), (8192, 512, 128)]:
        d = lru("--mode", "gemm", "--m", m, "--k", k, "--n", n, "--threads", r.threads, "--seconds", r.seconds)
        ours, peak = d["gflops"], d["peak_gflops"]
        peer = blas.get((m, k, n))
        print(f"{f'{m}×{k}×{n}':18} {ours:10.1f} {fmt(peer, 1):>10} {ratio(ours, peer):>8}   {ours / peak:4.0%} of peak {peak:.0f}")
        r.record("gemm", m=m, k=k, n=n, threads=r.threads, lru_gflops=ours, openblas_gflops=peer, peak_gflops=peak,
                 peak_fraction=d["peak_fraction"], openblas_corename=r.kernel)
    print("  weight-gradient shapes, C = Aᵀ·B (A stored k×m), LRU.NET only:")
    for m, n, k in [(64, 64, 39200), (128, 64, 39200), (64, 128, 39200)]:
        d = lru("--mode", "gemm", "--m", m, "--k", k, "--n", n, "--transpose-a", "--threads", r.threads, "--seconds", r.seconds)
        print(f"{f'ᵀ {m}×{k}×{n}':18} {d['gflops']:10.1f} {'':>10} {'':>8}   {d['peak_fraction']:4.0%} of peak {d['peak_gflops']:.0f}")
        r.record("gemm", m=m, k=k, n=n, transpose_a=True, threads=r.threads, lru_gflops=d["gflops"], peak_gflops=d["peak_gflops"],
                 peak_fraction=d["peak_fraction"])


def forward(r):
    print("\nLRU layer forward, tokens/s (higher is better)")
    print(f"{'B,L,H,N':18} {'scan':10} {'LRU.NET':>12} {'naive RNN':>12} {'PyTorch':>12} {'vs RNN':>8} {'vs torch':>9}")
    for b, l, h, n in SHAPES:
        torch = r.torch_lru("forward", b, l, h, n)
        t = torch and torch["torch_tokens_per_s"]
        naive = lru("--batch", b, "--length", l, "--hidden", h, "--state", n, "--threads", r.threads, "--seconds", 0)["naive_rnn_tokens_per_s"]
        for scan in ["auto", "sequential", "chunked", "tree"]:
            d = lru("--batch", b, "--length", l, "--hidden", h, "--state", n, "--threads", r.threads, "--scan", scan,
                    "--no-naive", "--seconds", r.seconds)
            ours = d["lru_tokens_per_s"]
            print(f"{f'{b},{l},{h},{n}':18} {scan:10} {ours:12,.0f} {naive:12,.0f} {fmt(t):>12} {ours / naive:7.0f}× {ratio(ours, t):>8}×")
            r.record("forward", batch=b, length=l, hidden=h, state=n, scan=scan, threads=r.threads,
                     lru_tokens_per_s=ours, naive_rnn_tokens_per_s=naive, torch_tokens_per_s=t,
                     gflops=d["gflops"], peak_gflops=d["peak_gflops"], peak_fraction=d["peak_fraction"])


def train(r):
    print("\nForward + backward (training), tokens/s (higher is better)")
    print(f"{'B,L,H,N':18} {'LRU layer':>12} {'torch layer':>12} {'ratio':>7} {'LRU block':>12} {'torch block':>12} {'ratio':>7} {'naive RNN':>10}")
    for b, l, h, n in SHAPES:
        torch = r.torch_lru("train", b, l, h, n)
        torch_block = r.torch_lru("block", b, l, h, n)
        t, tb = torch and torch["torch_tokens_per_s"], torch_block and torch_block["torch_tokens_per_s"]
        d = lru("--mode", "train", "--batch", b, "--length", l, "--hidden", h, "--state", n, "--threads", r.threads, "--seconds", r.seconds)
        ours, block, naive = d["lru_tokens_per_s"], d["block_tokens_per_s"], d["naive_rnn_tokens_per_s"]
        print(f"{f'{b},{l},{h},{n}':18} {ours:12,.0f} {fmt(t):>12} {ratio(ours, t):>6}× {block:12,.0f} {fmt(tb):>12} {ratio(block, tb):>6}× {naive:10,.0f}")
        r.record("train", batch=b, length=l, hidden=h, state=n, threads=r.threads, lru_tokens_per_s=ours, block_tokens_per_s=block,
                 naive_rnn_tokens_per_s=naive, torch_tokens_per_s=t, torch_block_tokens_per_s=tb,
                 gflops=d["gflops"], peak_gflops=d["peak_gflops"], peak_fraction=d["peak_fraction"])


def peak(r):
    print("\nThe machine's bounds (lru bench --mode peak)")
    d = lru("--mode", "peak", "--threads", r.threads, "--seconds", r.seconds)
    print(f"  FP32 FMA ({d['vector_bits']}-bit): {d['fma_gflops_1_thread']:.1f} GFLOP/s on 1 thread, {d['fma_gflops']:.1f} on {r.threads}; "
          f"memory copy {d['memory_copy_gbytes_per_s']:.1f} GB/s, triad {d['memory_triad_gbytes_per_s']:.1f} GB/s; L2 read {d['l2_read_gbytes_per_s']:.1f} GB/s")
    r.record("peak", **{k: v for k, v in d.items() if k != "mode"})


def model(r):
    print("\nWhole model, the fashion-mnist task's (4 blocks, H=64, N=64, BatchNorm, GLU, dropout; B=50, L=784), tokens/s")
    d = lru("--mode", "model", "--threads", r.threads, "--seconds", r.seconds)
    t = r.torch_lru("model", 50, 784, 64, 64)
    tt, te = t and t["torch_model_tokens_per_s"], t and t["torch_eval_tokens_per_s"]
    print(f"  training step  LRU.NET {d['model_tokens_per_s']:12,.0f} ({d['peak_fraction']:.0%} of peak)   PyTorch {fmt(tt):>10}   {ratio(d['model_tokens_per_s'], tt)}×")
    print(f"  eval forward   LRU.NET {d['eval_tokens_per_s']:12,.0f} ({d['eval_peak_fraction']:.0%} of peak)   PyTorch {fmt(te):>10}   {ratio(d['eval_tokens_per_s'], te)}×")
    r.record("model", batch=50, length=784, hidden=64, state=64, layers=4, threads=r.threads,
             lru_model_tokens_per_s=d["model_tokens_per_s"], lru_eval_tokens_per_s=d["eval_tokens_per_s"], peak_fraction=d["peak_fraction"],
             eval_peak_fraction=d["eval_peak_fraction"], peak_gflops=d["peak_gflops"], torch_model_tokens_per_s=tt, torch_eval_tokens_per_s=te,
             openblas_corename=r.kernel)


def step(r):
    print("\nStreaming step of one stream, H=128 N=256, µs (lower is better)")
    ours = lru("--mode", "step", "--batch", 1, "--hidden", 128, "--state", 256, "--seconds", r.seconds)
    torch = r.torch_lru("step", 1, 1, 128, 256, threads=1)
    t = torch and torch["torch_step_us"]
    print(f"  LRU.NET layer Step {ours['step_us']:8.2f} µs   (2-block model Step {ours['model_step_us']:.2f} µs, "
          f"{ours['allocated_bytes']} bytes allocated in 2000 steps)")
    print(f"  PyTorch layer step {fmt(t, 2):>8} µs   (1 thread, no autograd)   LRU.NET is {ratio(t, ours['step_us'])}× faster")
    print(f"  the bound: reading its {ours['weight_bytes'] / 1024:.0f} KiB of weights from L2 at {ours['l2_read_gbytes_per_s']:.0f} GB/s = "
          f"{ours['l2_bound_us']:.2f} µs; the step takes {ours['step_over_bound']:.2f}× that")
    r.record("step", hidden=128, state=256, batch=1, lru_step_us=ours["step_us"], lru_model_step_us=ours["model_step_us"],
             allocated_bytes=ours["allocated_bytes"], torch_step_us=t, l2_bound_us=ours["l2_bound_us"],
             step_over_bound=ours["step_over_bound"], l2_read_gbytes_per_s=ours["l2_read_gbytes_per_s"])


def scan(r):
    print("\nForward scan (sequential, in place) vs memory bandwidth measured on the same buffer, GB/s")
    print(f"{'B,L,N':16} {'buffer':>9} {'scan':>8} {'in place':>9} {'copy':>8} {'scan/memory':>12}")
    for b, l, n in [(8, 8192, 256), (1, 65536, 256), (8, 1024, 256)]:
        d = lru("--mode", "scan", "--batch", b, "--length", l, "--state", n, "--threads", r.threads, "--seconds", r.seconds)
        print(f"{f'{b},{l},{n}':16} {d['buffer_bytes'] / 2**20:7.0f} MiB {d['scan_gbytes_per_s']:8.1f} {d['memory_inplace_gbytes_per_s']:9.1f} "
              f"{d['memory_copy_gbytes_per_s']:8.1f} {d['scan_fraction_of_memory']:11.0%}")
        r.record("scan", batch=b, length=l, state=n, threads=r.threads, **{k: d[k] for k in d if k.endswith("_s") or k.startswith("scan_") or k == "buffer_bytes"})


def length(r):
    print("\nCost against sequence length, B=1 H=128 N=256, tokens/s (flat = linear cost)")
    print(f"{'L':>8} {'LRU fwd':>12} {'torch fwd':>12} {'LRU fwd+bwd':>12} {'torch fwd+bwd':>14}")
    for l in [256, 1024, 4096, 16384, 65536]:
        f = lru("--batch", 1, "--length", l, "--hidden", 128, "--state", 256, "--threads", r.threads, "--no-naive", "--seconds", r.seconds)["lru_tokens_per_s"]
        t = lru("--mode", "train", "--batch", 1, "--length", l, "--hidden", 128, "--state", 256, "--threads", r.threads, "--no-naive", "--seconds", r.seconds)["lru_tokens_per_s"]
        tf, tt = r.torch_lru("forward", 1, l, 128, 256, impl="scan"), r.torch_lru("train", 1, l, 128, 256, impl="scan")
        tf, tt = tf and tf["torch_tokens_per_s"], tt and tt["torch_tokens_per_s"]
        print(f"{l:8} {f:12,.0f} {fmt(tf):>12} {t:12,.0f} {fmt(tt):>14}")
        r.record("length", batch=1, length=l, hidden=128, state=256, threads=r.threads, lru_forward_tokens_per_s=f,
                 lru_train_tokens_per_s=t, torch_forward_tokens_per_s=tf, torch_train_tokens_per_s=tt)


def threads(r):
    print("\nThroughput against threads, tokens/s")
    print(f"{'B,L,H,N':18} {'threads':>7} {'LRU fwd':>12} {'torch fwd':>12} {'LRU fwd+bwd':>12} {'torch fwd+bwd':>14}")
    for b, l, h, n in SHAPES:
        for t in range(1, (os.cpu_count() or 1) + 1):
            f = lru("--batch", b, "--length", l, "--hidden", h, "--state", n, "--threads", t, "--no-naive", "--seconds", r.seconds)["lru_tokens_per_s"]
            g = lru("--mode", "train", "--batch", b, "--length", l, "--hidden", h, "--state", n, "--threads", t, "--no-naive", "--seconds", r.seconds)["lru_tokens_per_s"]
            tf, tt = r.torch_lru("forward", b, l, h, n, threads=t), r.torch_lru("train", b, l, h, n, threads=t)
            tf, tt = tf and tf["torch_tokens_per_s"], tt and tt["torch_tokens_per_s"]
            print(f"{f'{b},{l},{h},{n}':18} {t:7} {f:12,.0f} {fmt(tf):>12} {g:12,.0f} {fmt(tt):>14}")
            r.record("threads", batch=b, length=l, hidden=h, state=n, threads=t, lru_forward_tokens_per_s=f,
                     lru_train_tokens_per_s=g, torch_forward_tokens_per_s=tf, torch_train_tokens_per_s=tt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sections", nargs="*", default=["all"], help="all, or some of: " + ", ".join(SECTIONS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum measuring time per figure")
    ap.add_argument("--out", help="append every measurement to this JSON-lines file")
    a = ap.parse_args()
    chosen = SECTIONS if "all" in a.sections else a.sections
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        sys.exit(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    subprocess.run(["dotnet", "build", os.path.join(ROOT, "src", "Lru.Cli"), "-c", "Release", "-v", "quiet", "-nologo"],
                   check=True, stdout=subprocess.DEVNULL)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    r = Run(a.threads, a.seconds, a.out)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"machine: {os.cpu_count()} cores, {cpu}, threads={a.threads}, {when}; peers: "
          f"torch {'yes' if r.torch else 'missing'}, numpy/OpenBLAS {'yes' if r.numpy else 'missing'}")
    family = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("cpu family")), "?")
    print(f"cpu family {family}")
    r.record("machine", cores=os.cpu_count(), cpu=cpu, cpu_family=family, threads=a.threads, when=when)
    for s in chosen:
        globals()[s](r)
    print(f"\npeers ran OpenBLAS kernel: {r.kernel or 'unknown (no peer ran)'}; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset "
          f"and {', '.join(f'{k}={v}' for k, v in allocator().items())} for them")
    r.record("peers", openblas_corename=r.kernel, **allocator())


if __name__ == "__main__":
    main()
