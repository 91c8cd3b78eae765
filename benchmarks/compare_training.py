#!/usr/bin/env python3
"""LRU.NET against its PyTorch peer trainer on one task, one after the other on this machine, metric against wall time.

    /usr/bin/python3 benchmarks/compare_training.py --task adding --minutes 60 --out docs/plots
    /usr/bin/python3 benchmarks/compare_training.py --task fashion-mnist --minutes 60 --out docs/plots

Runs `lru train --task TASK --log` (the library's defaults, to the end) and then benchmarks/python/torch_train.py (the
same model and recipe in PyTorch 1.13, 2 threads, in the peer environment of benchmarks/peer_env.py, evaluating also when it passes
10 and 30 minutes, its warm-up and cosine planned over the task's epochs or, when fewer fit, over the steps that fit in
--minutes: --fit-budget) for at most --minutes, writes both logs and a picture (OUT/TASK-vs-pytorch.png, drawn by
docs/plots/plot_curves.py), and prints each trainer's test metric (MSE for adding, accuracy for fashion-mnist) at 10, 30
and 60 minutes: the last evaluation at or before that time (a trainer that finished earlier keeps its final figure).
--lrunet-log reuses the log of an earlier `lru train --task TASK --log` run of this machine instead of training again.
"""
import argparse
import json
import os
import subprocess
import sys

from peer_env import peer_env

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def at(rows, minutes, key, field="seconds"):
    done = [r for r in rows if r.get(field, r["seconds"]) <= 60 * minutes]
    return done[-1][key] if done else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="adding", choices=["adding", "fashion-mnist"])
    ap.add_argument("--lrunet-log", help="an existing `lru train --log` file of this task to use instead of a new LRU.NET run")
    ap.add_argument("--minutes", type=float, default=60.0, help="the PyTorch run's wall-time budget")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    lru_log = os.path.abspath(a.lrunet_log) if a.lrunet_log else os.path.join(a.out, f"{a.task}-lrunet.jsonl")
    torch_log = os.path.join(a.out, f"{a.task}-pytorch.jsonl")
    for path in (torch_log,) if a.lrunet_log else (lru_log, torch_log):
        if os.path.exists(path):
            os.remove(path)

    if not a.lrunet_log:
        subprocess.run(["dotnet", "run", "-c", "Release", "--project", os.path.join(ROOT, "src", "Lru.Cli"), "--",
                        "train", "--task", a.task, "--threads", str(a.threads), "--log", lru_log], check=True)
    env = peer_env(a.threads)
    subprocess.run([sys.executable, os.path.join(HERE, "python", "torch_train.py"), "--task", a.task, "--minutes", str(a.minutes),
                    "--eval-at", "10,30", "--fit-budget", "--threads", str(a.threads), "--log", torch_log],
                   check=True, env=env, cwd=os.path.join(HERE, "python"))

    lru_rows = [json.loads(line) for line in open(lru_log)]
    torch_rows = [json.loads(line) for line in open(torch_log)]
    cpu = next((line.split(":")[1].strip() for line in open("/proc/cpuinfo") if line.startswith("cpu family")), "?")
    key, name = ("test_loss", "MSE") if a.task == "adding" else ("test_accuracy", "accuracy")
    print(f"{a.task}: test {name} at wall time (cpu family {cpu}, {a.threads} threads); the last evaluation at or before it")
    print(f"{'minutes':>8} {'LRU.NET':>12} {'PyTorch':>12} {'PyTorch, model at T':>22}")
    for m in (10, 30, 60):
        # Past its budget a PyTorch run that was stopped has no figure (one that finished keeps its last).
        finished = torch_rows[-1]["epoch"] == int(torch_rows[-1]["epoch"]) and torch_rows[-1]["seconds"] <= 60 * a.minutes
        l, t = at(lru_rows, m, key), (at(torch_rows, m, key) if m <= a.minutes or finished else None)
        # The peer's evaluation at a mark starts after the first step past it and ends minutes later: also show the
        # model as it was at the mark, its evaluation time not counted (in the peer's favour).
        t_model = at(torch_rows, m, key, "trained_seconds") if m <= a.minutes or finished else None
        fmt = lambda v: "—" if v is None else f"{v:.5f}"
        print(f"{m:>8} {fmt(l):>12} {fmt(t):>12} {fmt(t_model):>22}")
    subprocess.run([sys.executable, os.path.join(ROOT, "docs", "plots", "plot_curves.py"), os.path.join(a.out, f"{a.task}-vs-pytorch.png"),
                    f"LRU.NET={lru_log}", f"PyTorch={torch_log}"], check=True)


if __name__ == "__main__":
    main()
