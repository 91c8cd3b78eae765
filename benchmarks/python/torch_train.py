#!/usr/bin/env python3
"""A PyTorch peer trainer: the same model and recipe as `lru train --task adding` or `lru train --task fashion-mnist`.

adding — model (as BuiltInTasks' adding defaults): Linear encoder 2 → 64, 2 pre-norm blocks x + GLU(GELU(LRU(BatchNorm(x))))
(exact GELU, GLU(z) = W1 z ⊙ σ(W2 z), no dropout), the LRU with N = 64, |λ| on the ring [0.99, 0.9999], phases up to
π/10, γ normalisation (LRU-MATH §1, `torch_lru.make_params`/`lru`, the faster of its two recurrences, timed at start), last-step pooling, Linear decoder
64 → 1, MSE. Recipe: batch 32, AdamW with nu_log/theta_log/gamma_log/B at 1e-3 without weight decay and the rest at
2e-3 with weight decay 0.01, 10 % linear warm-up then cosine to 0 over 8 epochs, global gradient clipping at 1.

Data: the adding problem's distribution (values uniform in [0, 1), one marker in each half, target the sum of the two
marked values), 8,000 training and 1,000 test sequences of L = 1,000 drawn here with numpy (seeded): the same task and
sizes as LRU.NET's, not the same draws (nor the same initial weights: one seed each).
When --minutes stops the run early, its cosine schedule (planned over --epochs) has not annealed, unless --fit-budget
planned it over the steps that fit in --minutes.

fashion-mnist — model (as BuiltInTasks' FashionDefaults): Linear encoder 1 → 64, 4 pre-norm bidirectional blocks
x + GLU(GELU(LRU(BatchNorm(x)) + LRU'(BatchNorm(x) reversed) reversed)) (LRU' its own parameters; --direction causal
drops it), no dropout (the dropout code, one mask per sequence and channel as LRU.NET's DropoutMode.PerSequence, is
there for recipes that use it), each LRU with N = 64, |λ| in [0.9, 0.999], phases up to 2π, mean pooling over the 784
steps, Linear decoder 64 → 10, cross-entropy.
Recipe: batch 50, AdamW, SSM parameters 1e-3 without weight decay, the rest 4e-3 with weight decay 0.05, 10 % warm-up then
cosine over --epochs (7), clipping at 1. Data: the same 60,000/10,000 images as LRU.NET (Debian's dataset-fashion-mnist IDX
files, grey values / 255, one pixel per step), shuffled with torch's generator.
--eval-at M1,M2,… also evaluates (and logs, with a fractional epoch) when the wall time first passes each mark, so the
test metric at 10 and 30 minutes is measured even when an epoch takes longer than that.

Each finished epoch (and the last, partial one when --minutes runs out) appends one JSON line to --log in the format of
`lru train --log` (task, epoch, seconds, train_loss, test_loss), seconds being wall time since the start including
evaluation and starting, as LRU.NET's, after the data and the model are made (trained_seconds: the time when training
stopped for that evaluation), so docs/plots/plot_curves.py draws both trainers on one time axis. Run it in the peers' environment (benchmarks/peer_env.py):

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 TCMALLOC_RELEASE_RATE=0 /usr/bin/python3 benchmarks/python/torch_train.py --minutes 10 --log torch-adding.jsonl
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 TCMALLOC_RELEASE_RATE=0 /usr/bin/python3 benchmarks/python/torch_train.py --task fashion-mnist --minutes 60 --eval-at 10,30 --log torch-fashion.jsonl
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch

from blas_info import peer_fields
from torch_lru import lru, make_params

REFIT = 20  # --fit-budget re-plans the schedule after this many training steps, from their measured time


def adding_data(count, length, seed):
    rng = np.random.default_rng(seed)
    values = rng.random((count, length), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, count)
    second = rng.integers(half, length, count)
    markers = np.zeros((count, length), dtype=np.float32)
    rows = np.arange(count)
    markers[rows, first] = 1
    markers[rows, second] = 1
    x = np.stack([values, markers], axis=-1)
    y = values[rows, first] + values[rows, second]
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)).unsqueeze(-1)


def fashion_data(directory, split):
    def read(name, offset):
        with gzip.open(os.path.join(directory, name), "rb") as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)
    prefix = "train" if split == "train" else "t10k"
    images = read(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 784, 1).astype(np.float32) / 255
    labels = read(f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def sequence_dropout(x, rate, training):
    """One mask per sequence and channel, shared by all steps (LRU.NET's DropoutMode.PerSequence)."""
    if not training or rate == 0:
        return x
    keep = (torch.rand(x.shape[0], 1, x.shape[2]) >= rate).to(x.dtype) / (1 - rate)
    return x * keep


class Block(torch.nn.Module):
    def __init__(self, h, n, seed, r_min, r_max, max_phase, dropout=0.0, bidirectional=False):
        super().__init__()
        def parameters(s):
            params = make_params(h, n, r_min=r_min, r_max=r_max, max_phase=max_phase, seed=s)
            return torch.nn.ParameterDict({k: torch.nn.Parameter(v.detach().clone()) for k, v in params.items()})
        self.p = parameters(seed)
        self.back = parameters(seed + 1000) if bidirectional else None
        self.norm = torch.nn.BatchNorm1d(h)
        self.out1, self.out2 = torch.nn.Linear(h, h), torch.nn.Linear(h, h)
        self.dropout = dropout
        self.impl = "scan"

    def forward(self, x):
        z = self.norm(x.transpose(1, 2)).transpose(1, 2)
        y = lru(self.p, z, self.impl)
        if self.back is not None:
            y = y + lru(self.back, z.flip(1), self.impl).flip(1)
        z = sequence_dropout(torch.nn.functional.gelu(y), self.dropout, self.training)
        return x + sequence_dropout(self.out1(z) * torch.sigmoid(self.out2(z)), self.dropout, self.training)


class Model(torch.nn.Module):
    def __init__(self, features, h, n, layers, outputs, r_min, r_max, max_phase, pooling, dropout=0.0, bidirectional=False):
        super().__init__()
        self.encoder = torch.nn.Linear(features, h)
        self.blocks = torch.nn.ModuleList([Block(h, n, 16 + i, r_min, r_max, max_phase, dropout, bidirectional) for i in range(layers)])
        self.decoder = torch.nn.Linear(h, outputs)
        self.pooling = pooling

    def forward(self, x):
        x = self.encoder(x)
        for block in self.blocks:
            x = block(x)
        return self.decoder(x[:, -1] if self.pooling == "last" else x.mean(1))


# Each task's defaults, as BuiltInTasks' (see the docstring).
TASKS = {
    "adding": dict(features=2, layers=2, outputs=1, r_min=0.99, r_max=0.9999, max_phase=math.pi / 10, pooling="last",
                   dropout=0.0, bidirectional=False, batch=32, lr=2e-3, ssm_lr=1e-3, wd=0.01, epochs=8),
    "fashion-mnist": dict(features=1, layers=4, outputs=10, r_min=0.9, r_max=0.999, max_phase=2 * math.pi, pooling="mean",
                          dropout=0.0, bidirectional=True, batch=50, lr=4e-3, ssm_lr=1e-3, wd=0.05, epochs=7),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="adding", choices=sorted(TASKS))
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-time budget; the run stops after the step that passes it")
    ap.add_argument("--epochs", type=int, help="epochs the schedule is planned over (default: the task's: adding 8, fashion-mnist 7)")
    ap.add_argument("--eval-at", default="", help="comma-separated minutes at which to evaluate as well (e.g. 10,30)")
    ap.add_argument("--fit-budget", action="store_true",
                    help="plan the warm-up and cosine over the steps that fit in --minutes (estimated from timed steps) instead of over --epochs")
    ap.add_argument("--direction", choices=["causal", "bidirectional"],
                    help="bidirectional: a second LRU per block reads the sequence backwards (default: the task's, as lru train --direction)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="fashion-mnist: folder of the IDX files")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t = TASKS[a.task]
    a.epochs = a.epochs or t["epochs"]
    bidirectional = t["bidirectional"] if a.direction is None else a.direction == "bidirectional"
    marks = sorted(float(m) for m in a.eval_at.split(",") if m.strip())
    classify = a.task != "adding"
    loss_fn = torch.nn.functional.cross_entropy if classify else torch.nn.functional.mse_loss

    if a.task == "adding":
        x_train, y_train = adding_data(8000, 1000, seed=2 * a.seed + 1)
        x_test, y_test = adding_data(1000, 1000, seed=2 * a.seed + 2)
    else:
        x_train, y_train = fashion_data(a.data, "train")
        x_test, y_test = fashion_data(a.data, "test")
    model = Model(t["features"], 64, 64, t["layers"], t["outputs"], r_min=t["r_min"], r_max=t["r_max"], max_phase=t["max_phase"],
                  pooling=t["pooling"], dropout=t["dropout"], bidirectional=bidirectional)
    ssm_names = ("nu_log", "theta_log", "gamma_log", "B_re", "B_im")
    ssm = [p for name, p in model.named_parameters() if name.split(".")[-1] in ssm_names]
    ids = {id(p) for p in ssm}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": ssm, "lr": t["ssm_lr"], "weight_decay": 0.0}, {"params": rest, "lr": t["lr"], "weight_decay": t["wd"]}])
    batch = t["batch"]
    steps_per_epoch = math.ceil(len(x_train) / batch)
    total = steps_per_epoch * a.epochs
    warmup = max(1, int(0.1 * total))

    def factor(step):  # step = optimiser steps taken before this one, from 0, as LinearWarmupCosineSchedule.Factor
        if step < warmup:
            return step / warmup
        if step >= total:
            return 0.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    base = [g["lr"] for g in opt.param_groups]

    # The faster of the two ways torch_lru runs the recurrence (a Python loop over time, a log-depth scan), timed on
    # one forward + backward of a training batch; the gradients are thrown away and no step is taken.
    def time_impl(name):
        for block in model.blocks:
            block.impl = name
        loss_fn(model(x_train[:batch]), y_train[:batch]).backward()  # warm-up, untimed
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            loss_fn(model(x_train[:batch]), y_train[:batch]).backward()
            best = min(best, time.perf_counter() - t0)
        opt.zero_grad(set_to_none=True)
        return best

    times = {name: time_impl(name) for name in ("step", "scan")}
    impl = min(times, key=times.get)
    for block in model.blocks:
        block.impl = impl
    print(f"recurrence: {impl}", flush=True)

    def evaluate():
        model.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(x_test), 100):
                out = model(x_test[i:i + 100])
                loss += loss_fn(out, y_test[i:i + 100], reduction="sum").item()
                if classify:
                    correct += (out.argmax(-1) == y_test[i:i + 100]).sum().item()
        model.train()
        return loss / len(x_test), (correct / len(x_test) if classify else None)

    planned = total  # the task's epochs
    evaluation = 0.0

    def fit(step_seconds, done=0, elapsed=0.0):
        """Plans warm-up and cosine over the steps that fit in the rest of --minutes (at most the task's epochs)."""
        nonlocal total, warmup
        fits = done + int((60 * a.minutes - elapsed - (len(marks) + 1) * evaluation) / step_seconds)
        total = max(1, done + 1, min(planned, fits))
        warmup = max(1, int(0.1 * total))
        print(f"schedule fitted to {a.minutes} min after {done} steps: {total} steps ({total / steps_per_epoch:.3f} epochs), "
              f"warm-up {warmup}; step ≈ {step_seconds:.2f} s, evaluation ≈ {evaluation:.0f} s", flush=True)

    if a.fit_budget:
        # A first plan from the timing above (a training step ≈ 1.1 × the forward + backward: the optimiser, clipping;
        # one evaluation timed whole, before the clock starts: timing a part of it under-estimated it 10× on adding),
        # re-planned after the first REFIT real steps from their measured time (the first timed calls can be far off:
        # 5.6 s against 3.1 s once).
        t0 = time.perf_counter()
        evaluate()
        evaluation = time.perf_counter() - t0
        fit(1.1 * times[impl])
    # BatchNorm's running statistics moved during the timing: reset them so training starts from the initial state.
    for block in model.blocks:
        block.norm.reset_running_stats()
    start = time.perf_counter()  # like Trainer.Fit: data and model are made before the clock starts

    cpu_family = next((line.split(":")[1].strip() for line in open("/proc/cpuinfo") if line.startswith("cpu family")), None)

    evaluating = 0.0  # seconds spent in evaluations since the start

    def log(epoch, train_loss, train_accuracy):
        nonlocal evaluation, evaluating
        trained = time.perf_counter() - start  # training stopped here; the evaluation below is of the model at this time
        test_loss, test_accuracy = evaluate()  # first, so that "seconds" includes the evaluation, as LRU.NET's epoch times do
        took = time.perf_counter() - start - trained
        evaluating += took
        evaluation = max(evaluation, took)  # a trained model can evaluate far slower than the untrained one timed above
        row = {"task": a.task, "trainer": "pytorch", "epoch": epoch, "seconds": round(time.perf_counter() - start, 2),
               "trained_seconds": round(trained, 2),
               "train_loss": train_loss, "train_accuracy": train_accuracy, "test_loss": test_loss, "test_accuracy": test_accuracy,
               "recurrence": impl, "bidirectional": bidirectional, "planned_steps": total, "cpu_family": cpu_family}
        row.update(peer_fields())
        with open(a.log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    step = 0
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(len(x_train), generator=g)
        losses, correct, seen = [], 0, 0
        summary = lambda: (sum(losses) / len(losses), correct / seen if classify else None)
        for s in range(steps_per_epoch):
            for group, lr in zip(opt.param_groups, base):
                group["lr"] = lr * factor(step)
            step += 1
            idx = order[s * batch:(s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            out = model(x_train[idx])
            loss = loss_fn(out, y_train[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            seen += len(idx)
            if classify:
                correct += (out.argmax(-1) == y_train[idx]).sum().item()
            elapsed = time.perf_counter() - start
            if a.fit_budget and step == REFIT:
                fit((elapsed - evaluating) / step, step, elapsed)
            if elapsed > 60 * a.minutes or (a.fit_budget and step >= total):
                log(epoch - 1 + (s + 1) / steps_per_epoch, *summary())
                return
            if marks and elapsed > 60 * marks[0] and s + 1 < steps_per_epoch:
                while marks and elapsed > 60 * marks[0]:
                    marks.pop(0)
                log(epoch - 1 + (s + 1) / steps_per_epoch, *summary())
                if a.fit_budget:  # re-plan with the evaluation's real duration
                    elapsed = time.perf_counter() - start
                    fit((elapsed - evaluating) / step, step, elapsed)
        marks = [m for m in marks if 60 * m > time.perf_counter() - start]
        log(epoch, *summary())
        if time.perf_counter() - start > 60 * a.minutes:
            return  # the budget ran out during the evaluation: stop here, not one step into the next epoch


if __name__ == "__main__":
    main()
