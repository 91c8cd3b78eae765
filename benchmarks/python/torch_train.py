#!/usr/bin/env python3
"""A PyTorch peer trainer for the adding problem: the same model and recipe as `lru train --task adding`.

Model (as BuiltInTasks' adding defaults): Linear encoder 2 → 64, 2 pre-norm blocks x + GLU(GELU(LRU(BatchNorm(x))))
(exact GELU, GLU(z) = W1 z ⊙ σ(W2 z), no dropout), the LRU with N = 64, |λ| on the ring [0.99, 0.9999], phases up to
π/10, γ normalisation (LRU-MATH §1, `torch_lru.make_params`/`lru`, the faster of its two recurrences, timed at start), last-step pooling, Linear decoder
64 → 1, MSE. Recipe: batch 32, AdamW with nu_log/theta_log/gamma_log/B at 1e-3 without weight decay and the rest at
2e-3 with weight decay 0.01, 10 % linear warm-up then cosine to 0 over 8 epochs, global gradient clipping at 1.

Data: the adding problem's distribution (values uniform in [0, 1), one marker in each half, target the sum of the two
marked values), 8,000 training and 1,000 test sequences of L = 1,000 drawn here with numpy (seeded): the same task and
sizes as LRU.NET's, not the same draws (nor the same initial weights: one seed each).
When --minutes stops the run early, its cosine schedule (planned over --epochs) has not annealed.

Each finished epoch (and the last, partial one when --minutes runs out) appends one JSON line to --log in the format of
`lru train --log` (task, epoch, seconds, train_loss, test_loss), seconds being wall time since the start including
evaluation and starting, as LRU.NET's, after the data and the model are made, so docs/plots/plot_curves.py draws both trainers on one time axis. Run it without the OpenBLAS pins:

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/python/torch_train.py --minutes 10 --log torch-adding.jsonl
"""
import argparse
import json
import math
import time

import numpy as np
import torch

from blas_info import peer_fields
from torch_lru import lru, make_params


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


class Block(torch.nn.Module):
    def __init__(self, h, n, seed, r_min, r_max, max_phase):
        super().__init__()
        params = make_params(h, n, r_min=r_min, r_max=r_max, max_phase=max_phase, seed=seed)
        self.p = torch.nn.ParameterDict({k: torch.nn.Parameter(v.detach().clone()) for k, v in params.items()})
        self.norm = torch.nn.BatchNorm1d(h)
        self.out1, self.out2 = torch.nn.Linear(h, h), torch.nn.Linear(h, h)
        self.impl = "scan"

    def forward(self, x):
        z = self.norm(x.transpose(1, 2)).transpose(1, 2)
        z = torch.nn.functional.gelu(lru(self.p, z, self.impl))
        return x + self.out1(z) * torch.sigmoid(self.out2(z))


class Model(torch.nn.Module):
    def __init__(self, features, h, n, layers, outputs, r_min, r_max, max_phase):
        super().__init__()
        self.encoder = torch.nn.Linear(features, h)
        self.blocks = torch.nn.ModuleList([Block(h, n, 16 + i, r_min, r_max, max_phase) for i in range(layers)])
        self.decoder = torch.nn.Linear(h, outputs)

    def forward(self, x):
        x = self.encoder(x)
        for block in self.blocks:
            x = block(x)
        return self.decoder(x[:, -1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-time budget; the run stops after the step that passes it")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    x_train, y_train = adding_data(8000, 1000, seed=2 * a.seed + 1)
    x_test, y_test = adding_data(1000, 1000, seed=2 * a.seed + 2)
    model = Model(2, 64, 64, 2, 1, r_min=0.99, r_max=0.9999, max_phase=math.pi / 10)
    ssm_names = ("nu_log", "theta_log", "gamma_log", "B_re", "B_im")
    ssm = [p for name, p in model.named_parameters() if name.split(".")[-1] in ssm_names]
    ids = {id(p) for p in ssm}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": ssm, "lr": 1e-3, "weight_decay": 0.0}, {"params": rest, "lr": 2e-3, "weight_decay": 0.01}])
    batch = 32
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
        torch.nn.functional.mse_loss(model(x_train[:batch]), y_train[:batch]).backward()  # warm-up, untimed
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            torch.nn.functional.mse_loss(model(x_train[:batch]), y_train[:batch]).backward()
            best = min(best, time.perf_counter() - t0)
        opt.zero_grad(set_to_none=True)
        return best

    impl = min(("step", "scan"), key=time_impl)
    for block in model.blocks:
        block.impl = impl
    print(f"recurrence: {impl}", flush=True)
    # BatchNorm's running statistics moved during the timing: reset them so training starts from the initial state.
    for block in model.blocks:
        block.norm.reset_running_stats()
    start = time.perf_counter()  # like Trainer.Fit: data and model are made before the clock starts

    def evaluate():
        model.eval()
        with torch.no_grad():
            errors = [torch.nn.functional.mse_loss(model(x_test[i:i + 100]), y_test[i:i + 100], reduction="sum").item()
                      for i in range(0, len(x_test), 100)]
        model.train()
        return sum(errors) / len(x_test)

    cpu_family = next((line.split(":")[1].strip() for line in open("/proc/cpuinfo") if line.startswith("cpu family")), None)

    def log(epoch, train_loss):
        test_loss = evaluate()  # first, so that "seconds" includes the evaluation, as LRU.NET's epoch times do
        row = {"task": "adding", "trainer": "pytorch", "epoch": epoch, "seconds": round(time.perf_counter() - start, 2),
               "train_loss": train_loss, "train_accuracy": None, "test_loss": test_loss, "test_accuracy": None,
               "recurrence": impl, "cpu_family": cpu_family}
        row.update(peer_fields())
        with open(a.log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    step = 0
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(len(x_train), generator=g)
        losses = []
        for s in range(steps_per_epoch):
            for group, lr in zip(opt.param_groups, base):
                group["lr"] = lr * factor(step)
            step += 1
            idx = order[s * batch:(s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(x_train[idx]), y_train[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            if time.perf_counter() - start > 60 * a.minutes:
                log(epoch - 1 + (s + 1) / steps_per_epoch, sum(losses) / len(losses))
                return
        log(epoch, sum(losses) / len(losses))
        if time.perf_counter() - start > 60 * a.minutes:
            return  # the budget ran out during the evaluation: stop here, not one step into the next epoch


if __name__ == "__main__":
    main()
