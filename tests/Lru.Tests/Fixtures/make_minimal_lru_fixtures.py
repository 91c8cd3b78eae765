#!/usr/bin/env python3
"""Writes the fixtures for importing a whole model trained with the JAX reference NicolasZucchet/minimal-LRU.

    /usr/bin/python3 tests/Lru.Tests/Fixtures/make_minimal_lru_fixtures.py   # needs Debian's python3-torch, numpy

No JAX or Flax is needed or used. The reference's inference was read from its source (lru/model.py at bbd71b1) and
re-implemented here in float64 PyTorch; the parameters are random but laid out exactly as
flax.traverse_util.flatten_dict({"params": params, "batch_stats": batch_stats}, sep="/") names them for a
ClassificationModel with K layers (float32, as JAX exports them):

    params/encoder/encoder/kernel (F, H), .../bias (H)              input Dense (kernel is (in, out))
    params/encoder/layers_<i>/seq/nu_log, theta_log, gamma_log (N)  LRU
    params/encoder/layers_<i>/seq/B_re, B_im (N, H), C_re, C_im (H, N), D (H)
    params/encoder/layers_<i>/out1/kernel (H, H), bias (H)          GLU value
    params/encoder/layers_<i>/out2/kernel (H, H), bias (H)          GLU gate
    params/encoder/layers_<i>/normalization/scale, bias (H)         LayerNorm or BatchNorm
    batch_stats/encoder/layers_<i>/normalization/mean, var (H)      BatchNorm only (running statistics)
    params/decoder/kernel (H, classes), bias (classes)

Inference (evaluation mode: no dropout, BatchNorm on its running statistics), per sequence u (L, F):
    x = u W_enc + b_enc
    per layer, r = x:  pre-norm   x = r + GLU(gelu(LRU(Norm(r))))
                       post-norm  x = Norm(r + GLU(gelu(LRU(r))))
        LRU: lambda = exp(-exp(nu_log) + i exp(theta_log)), Bn = (B_re + i B_im) * exp(gamma_log)[:, None],
             h_t = lambda * h_(t-1) + Bn u_t with h_(-1) = 0, y_t = Re((C_re + i C_im) h_t) + D * u_t
        gelu: tanh approximation (flax nn.gelu default approximate=True)
        GLU: (z W1 + b1) * sigmoid(z W2 + b2)
        LayerNorm: over H, biased variance, eps 1e-6; BatchNorm: (z - mean) / sqrt(var + 1e-5) * scale + bias
    pooling: mean over all L steps | last step | none (per-step outputs)
    logits = pooled W_dec + b_dec; output = log_softmax(logits) over classes
The reference has both placements (its `prenorm` flag, model.py SequenceLayer; CLI default pre-norm, module
default post-norm), and its post-norm is the form above.

Written to tests/Lru.Tests/Fixtures/minimal_lru/, per variant (K = 2 layers, H = 8, N = 6, 4 classes,
input B = 3, L = 17, F = 5):
    <variant>.safetensors     exactly the model's flattened tensors, F32, names as above; __metadata__
                              {"variant", "pooling": mean|last|none, "prenorm": true|false, "norm": layer|batch}
    <variant>.input.npy       float32 (B, L, F)
    <variant>.expected.npy    float64 log-probabilities, (B, classes) for mean/last pooling, (B, L, classes) for none
    layer_pre_mean.npz        also: the same parameters via numpy.savez (keys = the flattened names)
Variants: layer_pre_mean, batch_pre_mean, layer_post_last, batch_post_none, layer_pre_none, batch_pre_last.

Parameter magnitudes: ring initialisation of lambda (|lambda| in [0.5, 0.99], phase in [0, 6.28]); gamma_log =
log(sqrt(1 - |lambda|^2)) plus a small perturbation (as after training, so an importer that recomputes gamma from
lambda instead of reading gamma_log fails); B ~ N(0, 1/(2H)), C ~ N(0, 1/N), D ~ N(0, 1); Dense kernels
N(0, 1/fan_in); every bias, norm bias and BatchNorm running mean small and nonzero; norm scales around 1; running
variances in [0.5, 1.5]. Each variant has its own seed, so a variant's files do not depend on the others.

Self-checks (asserted): a second, independent evaluation of every variant (LRU states by the closed form
h_t = sum_k lambda^(t-k) Bn u_k, norms and GELU by torch.nn.functional, pooling by indexing) agrees with the
sequential one to 1e-12; the LRU states of both paths agree to 1e-12; every row of exp(output) sums to 1.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as Fn

import safetensors_writer

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "minimal_lru")

LAYERS, HIDDEN, STATE, CLASSES = 2, 8, 6, 4
BATCH, LENGTH, FEATURES = 3, 17, 5
R_MIN, R_MAX, MAX_PHASE = 0.5, 0.99, 6.28
LAYER_NORM_EPS, BATCH_NORM_EPS = 1e-6, 1e-5

VARIANTS = [  # name, norm, prenorm, pooling
    ("layer_pre_mean", "layer", True, "mean"),
    ("batch_pre_mean", "batch", True, "mean"),
    ("layer_post_last", "layer", False, "last"),
    ("batch_post_none", "batch", False, "none"),
    ("layer_pre_none", "layer", True, "none"),
    ("batch_pre_last", "batch", True, "last"),
]
NPZ_VARIANT = "layer_pre_mean"


def make_params(rng, norm):
    """Random parameters in the flattened JAX layout, float32 numpy arrays (insertion order = Flax's)."""
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    small = lambda *shape: f32(rng.normal(0.0, 0.1, shape))
    p = {}
    p["params/encoder/encoder/kernel"] = f32(rng.normal(0.0, 1.0 / math.sqrt(FEATURES), (FEATURES, HIDDEN)))
    p["params/encoder/encoder/bias"] = small(HIDDEN)
    for i in range(LAYERS):
        pre = f"params/encoder/layers_{i}/"
        u1, u2 = rng.uniform(size=STATE), rng.uniform(size=STATE)
        modulus_sq = u1 * (R_MAX ** 2 - R_MIN ** 2) + R_MIN ** 2
        theta_log = f32(np.log(MAX_PHASE * u2))
        nu_log = f32(np.log(-0.5 * np.log(modulus_sq)))
        modulus = np.exp(-np.exp(nu_log.astype(np.float64)))
        gamma_log = f32(np.log(np.sqrt(1.0 - modulus ** 2)) + rng.normal(0.0, 0.05, STATE))
        p[pre + "seq/theta_log"] = theta_log
        p[pre + "seq/nu_log"] = nu_log
        p[pre + "seq/gamma_log"] = gamma_log
        p[pre + "seq/B_re"] = f32(rng.normal(0.0, 1.0, (STATE, HIDDEN)) / math.sqrt(2 * HIDDEN))
        p[pre + "seq/B_im"] = f32(rng.normal(0.0, 1.0, (STATE, HIDDEN)) / math.sqrt(2 * HIDDEN))
        p[pre + "seq/C_re"] = f32(rng.normal(0.0, 1.0, (HIDDEN, STATE)) / math.sqrt(STATE))
        p[pre + "seq/C_im"] = f32(rng.normal(0.0, 1.0, (HIDDEN, STATE)) / math.sqrt(STATE))
        p[pre + "seq/D"] = f32(rng.normal(0.0, 1.0, HIDDEN))
        for dense in ("out1", "out2"):
            p[pre + dense + "/kernel"] = f32(rng.normal(0.0, 1.0 / math.sqrt(HIDDEN), (HIDDEN, HIDDEN)))
            p[pre + dense + "/bias"] = small(HIDDEN)
        p[pre + "normalization/scale"] = f32(1.0 + rng.normal(0.0, 0.1, HIDDEN))
        p[pre + "normalization/bias"] = small(HIDDEN)
    p["params/decoder/kernel"] = f32(rng.normal(0.0, 1.0 / math.sqrt(HIDDEN), (HIDDEN, CLASSES)))
    p["params/decoder/bias"] = small(CLASSES)
    if norm == "batch":
        for i in range(LAYERS):
            pre = f"batch_stats/encoder/layers_{i}/normalization/"
            p[pre + "mean"] = f32(rng.normal(0.0, 0.2, HIDDEN))
            p[pre + "var"] = f32(rng.uniform(0.5, 1.5, HIDDEN))
    return p


# ---- path 1: the reference, written out step by step with a sequential recurrence -------------------------------

def lru_sequential(u, q):
    """u (B, L, H) float64; q: the layer's seq/* tensors (float64). Returns (y (B, L, H), states (B, L, N))."""
    lam = torch.exp(torch.complex(-torch.exp(q["nu_log"]), torch.exp(q["theta_log"])))
    gain = torch.exp(q["gamma_log"])
    b = torch.complex(q["B_re"] * gain[:, None], q["B_im"] * gain[:, None])  # (N, H)
    c = torch.complex(q["C_re"], q["C_im"])  # (H, N)
    uc = u.to(torch.complex128)
    h = torch.zeros(u.shape[0], STATE, dtype=torch.complex128)
    ys, hs = [], []
    for t in range(u.shape[1]):
        h = lam * h + uc[:, t] @ b.T
        hs.append(h)
        ys.append((h @ c.T).real + q["D"] * u[:, t])
    return torch.stack(ys, 1), torch.stack(hs, 1)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def norm_manual(x, p, pre, norm):
    scale, bias = p[pre + "normalization/scale"], p[pre + "normalization/bias"]
    if norm == "layer":
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + LAYER_NORM_EPS) * scale + bias
    stats = pre.replace("params/", "batch_stats/") + "normalization/"
    return (x - p[stats + "mean"]) / torch.sqrt(p[stats + "var"] + BATCH_NORM_EPS) * scale + bias


def forward_reference(u, p, norm, prenorm, pooling):
    x = u @ p["params/encoder/encoder/kernel"] + p["params/encoder/encoder/bias"]
    states = []
    for i in range(LAYERS):
        pre = f"params/encoder/layers_{i}/"
        q = {k[len(pre) + 4:]: v for k, v in p.items() if k.startswith(pre + "seq/")}
        z = norm_manual(x, p, pre, norm) if prenorm else x
        z, h = lru_sequential(z, q)
        states.append(h)
        z = gelu_tanh(z)
        value = z @ p[pre + "out1/kernel"] + p[pre + "out1/bias"]
        gate = z @ p[pre + "out2/kernel"] + p[pre + "out2/bias"]
        x = x + value * torch.sigmoid(gate)
        if not prenorm:
            x = norm_manual(x, p, pre, norm)
    if pooling == "mean":
        x = x.sum(1) / x.shape[1]
    elif pooling == "last":
        x = x[:, -1]
    logits = x @ p["params/decoder/kernel"] + p["params/decoder/bias"]
    return logits - torch.logsumexp(logits, -1, keepdim=True), states


# ---- path 2: an independent evaluation (closed-form states, torch.nn.functional) ----------------------------------

def lru_closed_form(u, q):
    lam = torch.polar(torch.exp(-torch.exp(q["nu_log"])), torch.exp(q["theta_log"]))  # (N,)
    bn = torch.complex(q["B_re"], q["B_im"]) * torch.exp(q["gamma_log"]).to(torch.complex128)[:, None]
    bu = torch.einsum("nh,blh->bln", bn, u.to(torch.complex128))
    steps = torch.arange(u.shape[1])
    lag = steps[:, None] - steps[None, :]  # t - k
    powers = lam[None, None, :] ** lag.clamp(min=0)[:, :, None].to(torch.complex128)
    powers = powers * (lag >= 0)[:, :, None]  # (L, L, N): lambda^(t-k) for k <= t
    h = torch.einsum("tkn,bkn->btn", powers, bu)
    c = torch.complex(q["C_re"], q["C_im"])
    y = torch.einsum("hn,btn->bth", c, h).real + u * q["D"]
    return y, h


def forward_independent(u, p, norm, prenorm, pooling):
    def normalise(x, i):
        pre = f"params/encoder/layers_{i}/normalization/"
        if norm == "layer":
            return Fn.layer_norm(x, (HIDDEN,), p[pre + "scale"], p[pre + "bias"], LAYER_NORM_EPS)
        st = f"batch_stats/encoder/layers_{i}/normalization/"
        flat = Fn.batch_norm(x.reshape(-1, HIDDEN), p[st + "mean"], p[st + "var"], p[pre + "scale"],
                             p[pre + "bias"], training=False, eps=BATCH_NORM_EPS)
        return flat.reshape(x.shape)

    x = Fn.linear(u, p["params/encoder/encoder/kernel"].T, p["params/encoder/encoder/bias"])
    states = []
    for i in range(LAYERS):
        pre = f"params/encoder/layers_{i}/"
        q = {name: p[pre + "seq/" + name] for name in ("nu_log", "theta_log", "gamma_log", "B_re", "B_im",
                                                       "C_re", "C_im", "D")}
        z, h = lru_closed_form(normalise(x, i) if prenorm else x, q)
        states.append(h)
        z = Fn.gelu(z, approximate="tanh")
        z = Fn.glu(torch.cat([Fn.linear(z, p[pre + "out1/kernel"].T, p[pre + "out1/bias"]),
                              Fn.linear(z, p[pre + "out2/kernel"].T, p[pre + "out2/bias"])], -1), -1)
        x = x + z
        if not prenorm:
            x = normalise(x, i)
    x = {"mean": lambda t: t.mean(1), "last": lambda t: t[:, LENGTH - 1], "none": lambda t: t}[pooling](x)
    return Fn.log_softmax(Fn.linear(x, p["params/decoder/kernel"].T, p["params/decoder/bias"]), -1), states


# ---- writing ---------------------------------------------------------------------------------------------------------

def save_safetensors(path, arrays, metadata):
    assert all(a.dtype == np.float32 for a in arrays.values())
    safetensors_writer.write(path, [(name, "F32", a.shape, a.astype("<f4").tobytes()) for name, a in arrays.items()], metadata)


def main():
    os.makedirs(OUT, exist_ok=True)
    outputs = {}
    for index, (name, norm, prenorm, pooling) in enumerate(VARIANTS):
        rng = np.random.default_rng(20250903 + index)
        params = make_params(rng, norm)
        u32 = rng.normal(0.0, 1.0, (BATCH, LENGTH, FEATURES)).astype(np.float32)
        p = {k: torch.from_numpy(v.astype(np.float64)) for k, v in params.items()}
        u = torch.from_numpy(u32.astype(np.float64))

        expected, states = forward_reference(u, p, norm, prenorm, pooling)
        check, states2 = forward_independent(u, p, norm, prenorm, pooling)
        for h1, h2 in zip(states, states2):
            assert (h1 - h2).abs().max().item() < 1e-12, (name, "LRU states", (h1 - h2).abs().max().item())
        gap = (expected - check).abs().max().item()
        assert gap < 1e-12, (name, "outputs", gap)
        rows = expected.exp().sum(-1)
        assert (rows - 1).abs().max().item() < 1e-12, (name, "softmax rows")
        shape = (BATCH, CLASSES) if pooling != "none" else (BATCH, LENGTH, CLASSES)
        assert tuple(expected.shape) == shape, (name, tuple(expected.shape))

        meta = {"variant": name, "pooling": pooling, "prenorm": "true" if prenorm else "false", "norm": norm}
        save_safetensors(os.path.join(OUT, name + ".safetensors"), params, meta)
        np.save(os.path.join(OUT, name + ".input.npy"), u32)
        np.save(os.path.join(OUT, name + ".expected.npy"), expected.numpy().astype(np.float64))
        if name == NPZ_VARIANT:
            np.savez(os.path.join(OUT, name + ".npz"), **params)
        outputs[name] = expected
        print(f"wrote {name}: {len(params)} tensors, output {list(shape)}, paths agree to {gap:.1e}")

    firsts = [o.reshape(-1)[:CLASSES] for o in outputs.values()]
    for i in range(len(firsts)):
        for j in range(i):
            assert not torch.allclose(firsts[i], firsts[j]), "two variants gave the same output"


if __name__ == "__main__":
    main()
