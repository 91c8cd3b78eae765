#!/usr/bin/env python3
"""The LRU layer in PyTorch (CPU, autograd), as the peer LRU.NET is measured against.

Same parameterisation as LRU-MATH §1 (nu_log, theta_log, gamma_log, B_re, B_im, C_re, C_im, D),
two ways of running the recurrence, and the faster one is reported:
  * step:  a Python loop over time, x_t = λ x_{t-1} + (γ⊙B) u_t  (what most reference code does)
  * scan:  a log-depth (Hillis–Steele) scan, x_t += λ^(2^d) x_{t-2^d} for d = 0..log2(L)-1

Modes:
  forward  the layer, no gradients
  train    the layer, forward + backward (autograd)
  block    one block, forward + backward: x + GLU(GELU(LRU(LayerNorm(x)))), GLU(z) = W1 z ⊙ σ(W2 z),
           the same block as `lru bench --mode train` reports as block_tokens_per_s
  step     streaming latency: one time step of the layer for --batch streams (no gradients), in µs
  model    a whole training step of the fashion-mnist task's model (Linear encoder, K pre-BatchNorm blocks with LRU,
           GELU, dropout 0.1, GLU, dropout, residual; mean pooling; Linear decoder; cross-entropy; gradient clipping at 1;
           AdamW with the SSM group at 1e-3 without decay, the rest at 4e-3 with decay 0.05), and the eval() forward,
           as `lru bench --mode model` measures them (defaults B=50 L=784 H=64 N=64 K=4, one input feature, 10 classes)

Usage (Debian's python3 with python3-torch):
  /usr/bin/python3 benchmarks/python/torch_lru.py --mode forward|train|block|step --batch 8 --length 1024 --hidden 128 --state 256 --threads 2
The last line is one JSON object: torch_tokens_per_s (the faster), and per-implementation figures
(for step: torch_step_us; for model: torch_model_tokens_per_s, torch_eval_tokens_per_s), and the OpenBLAS kernel the
process ran (blas_info.peer_fields). benchmarks/compare.py starts it without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE.
"""
import argparse
import json
import math
import time

import torch

from blas_info import peer_fields


def make_params(h, n, r_min=0.9, r_max=0.999, max_phase=2 * math.pi, seed=0):
    g = torch.Generator().manual_seed(seed)
    u1, u2 = torch.rand(n, generator=g), torch.rand(n, generator=g)
    nu_log = torch.log(-0.5 * torch.log(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2))
    theta_log = torch.log(max_phase * u2)
    gamma_log = torch.log(torch.sqrt(1 - torch.exp(-torch.exp(nu_log)) ** 2))
    p = {
        "nu_log": nu_log, "theta_log": theta_log, "gamma_log": gamma_log,
        "B_re": torch.randn(n, h, generator=g) / math.sqrt(2 * h), "B_im": torch.randn(n, h, generator=g) / math.sqrt(2 * h),
        "C_re": torch.randn(h, n, generator=g) / math.sqrt(n), "C_im": torch.randn(h, n, generator=g) / math.sqrt(n),
        "D": torch.randn(h, generator=g),
    }
    return {k: v.clone().requires_grad_(True) for k, v in p.items()}


def lru(p, u, impl):
    lam = torch.exp(torch.complex(-torch.exp(p["nu_log"]), torch.exp(p["theta_log"])))
    gamma = torch.exp(p["gamma_log"]).unsqueeze(-1)
    b_mat = torch.complex(p["B_re"] * gamma, p["B_im"] * gamma)          # (N, H)
    c_mat = torch.complex(p["C_re"], p["C_im"])                          # (H, N)
    bu = u.to(torch.complex64) @ b_mat.transpose(0, 1)                   # (B, L, N)
    length = u.shape[1]
    if impl == "step":
        x = torch.zeros(u.shape[0], lam.shape[0], dtype=torch.complex64)
        states = []
        for t in range(length):
            x = lam * x + bu[:, t]
            states.append(x)
        xs = torch.stack(states, dim=1)
    else:
        xs, power, shift = bu, lam, 1
        while shift < length:
            xs = torch.cat([xs[:, :shift], xs[:, shift:] + power * xs[:, :-shift]], dim=1)
            power, shift = power * power, shift * 2
    return (xs @ c_mat.transpose(0, 1)).real + p["D"] * u


class Block(torch.nn.Module):
    """x + GLU(GELU(LRU(LayerNorm(x)))) with the LRU parameters p (dropout 0, exact GELU)."""

    def __init__(self, p, h, impl):
        super().__init__()
        self.p, self.impl = p, impl
        self.norm = torch.nn.LayerNorm(h)
        self.out1, self.out2 = torch.nn.Linear(h, h), torch.nn.Linear(h, h)

    def forward(self, x):
        z = torch.nn.functional.gelu(lru(self.p, self.norm(x), self.impl))
        return x + self.out1(z) * torch.sigmoid(self.out2(z))


def bench(impl, mode, p, u, weights, seconds):
    block = Block(p, u.shape[-1], impl) if mode == "block" else None

    def run():
        if mode in ("train", "block"):
            for v in p.values():
                v.grad = None
            if block is not None:
                block.zero_grad(set_to_none=True)
            out = block(u) if block is not None else lru(p, u, impl)
            (out * weights).sum().backward()
        else:
            with torch.no_grad():
                lru(p, u, impl)

    run()
    best, total, runs = float("inf"), time.perf_counter(), 0
    while runs < 3 or time.perf_counter() - total < seconds:
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
        runs += 1
    return best


class ModelBlock(torch.nn.Module):
    """x + drop(GLU(drop(GELU(LRU(BatchNorm(x)))))): the library's pre-norm BatchNorm block (exact GELU, dropout per sequence is
    per element here: PyTorch has no broadcast dropout; the cost is the same)."""

    def __init__(self, h, n, impl, seed, dropout=0.1):
        super().__init__()
        self.p = torch.nn.ParameterDict({k: torch.nn.Parameter(v.detach().clone()) for k, v in make_params(h, n, seed=seed).items()})
        self.impl = impl
        self.norm = torch.nn.BatchNorm1d(h)
        self.out1, self.out2 = torch.nn.Linear(h, h), torch.nn.Linear(h, h)
        self.drop = torch.nn.Dropout(dropout)

    def forward(self, x):
        z = self.norm(x.transpose(1, 2)).transpose(1, 2)
        z = self.drop(torch.nn.functional.gelu(lru(self.p, z, self.impl)))
        return x + self.drop(self.out1(z) * torch.sigmoid(self.out2(z)))


class Model(torch.nn.Module):
    def __init__(self, features, h, n, layers, classes, impl):
        super().__init__()
        self.encoder = torch.nn.Linear(features, h)
        self.blocks = torch.nn.ModuleList([ModelBlock(h, n, impl, seed=16 + i) for i in range(layers)])
        self.decoder = torch.nn.Linear(h, classes)

    def forward(self, x):
        x = self.encoder(x)
        for block in self.blocks:
            x = block(x)
        return self.decoder(x.mean(dim=1))


def model_bench(a, impl):
    """Seconds of one training step and of one eval() forward of the model at (B, L, 1) with 10 classes."""
    torch.manual_seed(2)
    model = Model(1, a.hidden, a.state, a.layers, 10, impl)
    ssm = [p for name, p in model.named_parameters() if name.split(".")[-1] in ("nu_log", "theta_log", "gamma_log", "B_re", "B_im")]
    ids = {id(p) for p in ssm}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": ssm, "lr": 1e-3, "weight_decay": 0.0}, {"params": rest, "lr": 4e-3, "weight_decay": 0.05}])
    x = torch.rand(a.batch, a.length, 1)
    y = torch.arange(a.batch) % 10

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def eval_forward():
        with torch.no_grad():
            model(x)

    def best_of(run):
        run()
        best, total, runs = float("inf"), time.perf_counter(), 0
        while runs < 3 or time.perf_counter() - total < a.seconds:
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
            runs += 1
        return best

    model.train()
    train = best_of(train_step)
    model.eval()
    return train, best_of(eval_forward)


def step_latency(p, batch, h, seconds):
    """Seconds per streaming step x ← λ x + (γ⊙B) u, y = Re(C x) + D ⊙ u for `batch` streams."""
    with torch.no_grad():
        lam = torch.exp(torch.complex(-torch.exp(p["nu_log"]), torch.exp(p["theta_log"])))
        gamma = torch.exp(p["gamma_log"]).unsqueeze(-1)
        b_t = torch.complex(p["B_re"] * gamma, p["B_im"] * gamma).transpose(0, 1).contiguous()  # (H, N)
        c_t = torch.complex(p["C_re"], p["C_im"]).transpose(0, 1).contiguous()                # (N, H)
        d = p["D"].detach()
        u = torch.randn(batch, h)
        x = torch.zeros(batch, lam.shape[0], dtype=torch.complex64)
        inner = 200

        def run(x):
            for _ in range(inner):
                x = lam * x + u.to(torch.complex64) @ b_t
                y = (x @ c_t).real + d * u
            return x

        x = run(x)
        best, total, runs = float("inf"), time.perf_counter(), 0
        while runs < 3 or time.perf_counter() - total < seconds:
            start = time.perf_counter()
            x = run(x)
            best = min(best, time.perf_counter() - start)
            runs += 1
        return best / inner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["forward", "train", "block", "step", "model"], default="forward")
    ap.add_argument("--layers", type=int, default=4, help="blocks K (mode model)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=1024)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--state", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--impl", choices=["both", "step", "scan"], default="both",
                    help="which recurrence to time (both: report the faster); the Python step loop is slow at long L")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    p = make_params(a.hidden, a.state)
    u = torch.randn(a.batch, a.length, a.hidden)
    weights = torch.randn(a.batch, a.length, a.hidden)

    if a.mode == "step":
        t = step_latency(p, a.batch, a.hidden, a.seconds)
        print(f"torch step: {t * 1e6:10.2f} µs per step of {a.batch} stream(s)")
        print(json.dumps({"mode": "step", "batch": a.batch, "hidden": a.hidden, "state": a.state, "threads": a.threads,
                          "torch": torch.__version__, "torch_step_us": round(t * 1e6, 3), **peer_fields()}))
        return

    if a.mode == "model":
        tokens = a.batch * a.length
        timed = {}
        for impl in (("step", "scan") if a.impl == "both" else (a.impl,)):
            timed[impl] = model_bench(a, impl)
            print(f"torch model {impl:4s}: training step {timed[impl][0] * 1e3:9.2f} ms ({tokens / timed[impl][0]:12,.0f} tokens/s), "
                  f"eval forward {timed[impl][1] * 1e3:9.2f} ms ({tokens / timed[impl][1]:12,.0f} tokens/s)")
        train_best = min(timed, key=lambda k: timed[k][0])
        eval_best = min(timed, key=lambda k: timed[k][1])
        print(json.dumps({"mode": "model", "batch": a.batch, "length": a.length, "hidden": a.hidden, "state": a.state,
                          "layers": a.layers, "threads": a.threads, "torch": torch.__version__,
                          "torch_model_tokens_per_s": round(tokens / timed[train_best][0], 1), "torch_model_best_impl": train_best,
                          "torch_eval_tokens_per_s": round(tokens / timed[eval_best][1], 1), "torch_eval_best_impl": eval_best,
                          **peer_fields()}))
        return

    impls = ("step", "scan") if a.impl == "both" else (a.impl,)
    if len(impls) == 2:
        # Both implementations compute the same function (checked here before timing).
        with torch.no_grad():
            ys, yc = lru(p, u, "step"), lru(p, u, "scan")
            rel = ((ys - yc).abs().max() / ys.abs().max()).item()
        assert rel < 1e-3, f"step and scan disagree: {rel}"

    tokens = a.batch * a.length
    results = {}
    for impl in impls:
        t = bench(impl, a.mode, p, u, weights, a.seconds)
        results[impl] = tokens / t
        print(f"torch {a.mode:7s} {impl:4s}: {t * 1e3:10.2f} ms/pass  {tokens / t:14,.0f} tokens/s")
    best = max(results, key=results.get)
    print(json.dumps({
        "mode": a.mode, "batch": a.batch, "length": a.length, "hidden": a.hidden, "state": a.state,
        "threads": a.threads, "torch": torch.__version__, "torch_tokens_per_s": round(results[best], 1),
        "torch_best_impl": best,
        **{f"torch_{impl}_tokens_per_s": round(rate, 1) for impl, rate in results.items()},
        **peer_fields(),
    }))


if __name__ == "__main__":
    main()
