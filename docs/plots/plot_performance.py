#!/usr/bin/env python3
"""Draws the pictures of docs/performance.md from the rows benchmarks/compare.py writes with --out.

    /usr/bin/python3 benchmarks/compare.py all --out docs/plots/performance.jsonl
    /usr/bin/python3 docs/plots/plot_performance.py docs/plots/performance.jsonl docs/plots

Writes perf-length.png (tokens/s against L: a flat line is a cost linear in L), perf-threads.png
(tokens/s against threads) and perf-peers.png (LRU.NET's speed relative to each peer, with the
targets of issue 6 marked). Needs Debian's python3-matplotlib.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by = {}
    for r in rows:
        by.setdefault(r["section"], []).append(r)
    return by


def machine_note(by):
    m = by.get("machine", [{}])[-1]
    family = f" (cpu family {m['cpu_family']})" if m.get("cpu_family") else ""
    return f"{m.get('cores', '?')} cores, {m.get('cpu', '?')}{family}, {m.get('when', '')}"


def length(by, out):
    rows = sorted(by.get("length", []), key=lambda r: r["length"])
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ls = [r["length"] for r in rows]
    for key, label, style in [("lru_forward_tokens_per_s", "LRU.NET forward", "o-"), ("lru_train_tokens_per_s", "LRU.NET forward+backward", "s-"),
                              ("torch_forward_tokens_per_s", "PyTorch forward", "o--"), ("torch_train_tokens_per_s", "PyTorch forward+backward", "s--")]:
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            ax.plot([l for l, y in zip(ls, ys) if y], [y for y in ys if y], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L (B = 1, H = 128, N = 256)")
    ax.set_ylabel("tokens/s")
    ax.set_title("Throughput against sequence length (flat = linear cost)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, machine_note(by), fontsize=7, color="gray")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "perf-length.png"), dpi=110)


def threads(by, out):
    rows = by.get("threads", [])
    if not rows:
        return
    shapes = sorted({(r["batch"], r["length"], r["hidden"], r["state"]) for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(shapes), figsize=(5 * len(shapes), 4))
    axes = axes if len(shapes) > 1 else [axes]
    for ax, shape in zip(axes, shapes):
        rs = sorted((r for r in rows if (r["batch"], r["length"], r["hidden"], r["state"]) == shape), key=lambda r: r["threads"])
        ts = [r["threads"] for r in rs]
        for key, label, style in [("lru_forward_tokens_per_s", "LRU.NET forward", "o-"), ("lru_train_tokens_per_s", "LRU.NET fwd+bwd", "s-"),
                                  ("torch_forward_tokens_per_s", "PyTorch forward", "o--"), ("torch_train_tokens_per_s", "PyTorch fwd+bwd", "s--")]:
            ys = [r.get(key) for r in rs]
            if any(y is not None for y in ys):
                ax.plot(ts, ys, style, label=label)
        ax.set_yscale("log")
        ax.set_xticks(ts)
        ax.set_xlabel("threads")
        ax.set_ylabel("tokens/s")
        ax.set_title("(B, L, H, N) = (%d, %d, %d, %d)" % shape)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.text(0.01, 0.01, machine_note(by), fontsize=7, color="gray")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "perf-threads.png"), dpi=110)


def peers(by, out):
    bars = []  # (label, ratio, target)
    for r in by.get("gemm", []):
        if r.get("openblas_gflops"):
            bars.append((f"GEMM {r['m']}×{r['k']}×{r['n']}\nvs OpenBLAS", r["lru_gflops"] / r["openblas_gflops"], 0.8))
    for r in by.get("forward", []):
        if r["scan"] == "auto" and r.get("torch_tokens_per_s"):
            bars.append((f"forward {r['batch']},{r['length']},{r['hidden']},{r['state']}\nvs PyTorch", r["lru_tokens_per_s"] / r["torch_tokens_per_s"], 4))
    for r in by.get("train", []):
        shape = f"{r['batch']},{r['length']},{r['hidden']},{r['state']}"
        if r.get("torch_tokens_per_s"):
            bars.append((f"fwd+bwd {shape}\nvs PyTorch", r["lru_tokens_per_s"] / r["torch_tokens_per_s"], 10))
        if r.get("torch_block_tokens_per_s"):
            bars.append((f"block {shape}\nvs PyTorch", r["block_tokens_per_s"] / r["torch_block_tokens_per_s"], 5))
    for r in by.get("step", []):
        if r.get("torch_step_us"):
            bars.append(("Step H=128 N=256\nvs PyTorch", r["torch_step_us"] / r["lru_step_us"], None))
    for r in by.get("scan", []):
        if r["buffer_bytes"] >= 64 << 20:
            bars.append((f"scan {r['batch']},{r['length']},{r['state']}\nvs memory", r["scan_fraction_of_memory"], 0.5))
    if not bars:
        return
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(bars)), 4.6))
    xs = range(len(bars))
    ax.bar(xs, [b[1] for b in bars], color=["tab:green" if b[2] is None or b[1] >= b[2] else "tab:red" for b in bars])
    for x, (_, v, target) in zip(xs, bars):
        ax.text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
        if target is not None:
            ax.plot([x - 0.4, x + 0.4], [target, target], "k--", linewidth=1)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([b[0] for b in bars], rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("LRU.NET ÷ peer (higher is better)")
    ax.set_title("LRU.NET against its peers (dashed: issue 6 target; red: below it)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.text(0.01, 0.01, machine_note(by), fontsize=7, color="gray")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "perf-peers.png"), dpi=110)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    by = load(sys.argv[1])
    for draw in (length, threads, peers):
        draw(by, sys.argv[2])


if __name__ == "__main__":
    main()
