#!/usr/bin/env python3
"""Draws training curves from the JSON lines that `lru train --log FILE` writes (one per epoch).

    /usr/bin/python3 docs/plots/plot_curves.py OUT.png [LABEL=]LOG.jsonl [[LABEL=]LOG.jsonl ...]

Each log becomes one line per panel: training loss, and the test metric (accuracy, or MSE on a log
scale for regression tasks) against wall time in minutes (the epochs' `seconds`, which include
evaluation). LABEL names the line (default: the task and its minutes). Needs Debian's python3-matplotlib.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, logs = sys.argv[1], sys.argv[2:]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.8))
    for arg in logs:
        name, _, path = arg.rpartition("=") if "=" in arg else ("", "", arg)
        rows = [json.loads(line) for line in open(path) if line.strip()]
        if not rows:
            continue
        task = rows[0]["task"]
        epochs = [r["seconds"] / 60 for r in rows]
        label = f"{name or task} ({rows[-1]['seconds'] / 60:.1f} min)"
        ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o", label=label)
        if rows[0].get("test_accuracy") is not None:
            ax_metric.plot(epochs, [100 * r["test_accuracy"] for r in rows], marker="o", label=label)
            ax_metric.set_ylabel("test accuracy (%)")
        else:
            ax_metric.plot(epochs, [r["test_loss"] for r in rows], marker="o", label=label)
            ax_metric.set_ylabel("test MSE")
            ax_metric.set_yscale("log")
    ax_loss.set_xlabel("minutes (one point per epoch)")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_yscale("log")
    ax_metric.set_xlabel("minutes (one point per epoch)")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
