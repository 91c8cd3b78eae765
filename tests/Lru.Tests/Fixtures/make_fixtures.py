#!/usr/bin/env python3
"""Writes the PyTorch parity fixtures (safetensors, float64) that tests/Lru.Tests/IO/ParityTests.cs reads.

Every fixture holds the weights, an input, the output and the gradients (input and every parameter) of
the loss  L = sum(w * y)  for fixed random weights w, computed with PyTorch 1.13 autograd in float64 from
the formulas of LRU-MATH. The C# tests load the weights, run forward and backward, and compare.

    /usr/bin/python3 tests/Lru.Tests/Fixtures/make_fixtures.py      # needs Debian's python3-torch

Tensors are named  param.<name>, input, loss_weights, output, grad.input, grad.<name>.
"""
import json
import math
import os
import struct

import torch

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


def save(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float64).numpy().tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def lru_params(g, h, n, prefix):
    u1, u2 = torch.rand(n, generator=g), torch.rand(n, generator=g)
    r_min, r_max = 0.5, 0.95
    nu_log = torch.log(-0.5 * torch.log(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2))
    return {
        prefix + "nu_log": nu_log,
        prefix + "theta_log": torch.log(2 * math.pi * u2),
        prefix + "gamma_log": torch.log(torch.sqrt(1 - torch.exp(-torch.exp(nu_log)) ** 2)),
        prefix + "B_re": torch.randn(n, h, generator=g) / math.sqrt(2 * h),
        prefix + "B_im": torch.randn(n, h, generator=g) / math.sqrt(2 * h),
        prefix + "C_re": torch.randn(h, n, generator=g) / math.sqrt(n),
        prefix + "C_im": torch.randn(h, n, generator=g) / math.sqrt(n),
        prefix + "D": torch.randn(h, generator=g),
    }


def lru(p, prefix, u):  # u (B, L, H) -> y (B, L, H); a plain sequential scan
    lam = torch.exp(torch.complex(-torch.exp(p[prefix + "nu_log"]), torch.exp(p[prefix + "theta_log"])))
    gamma = torch.exp(p[prefix + "gamma_log"]).unsqueeze(-1)
    b = torch.complex(p[prefix + "B_re"] * gamma, p[prefix + "B_im"] * gamma)
    c = torch.complex(p[prefix + "C_re"], p[prefix + "C_im"])
    bu = u.to(torch.complex128) @ b.transpose(0, 1)
    x = torch.zeros(u.shape[0], lam.shape[0], dtype=torch.complex128)
    xs = []
    for t in range(u.shape[1]):
        x = lam * x + bu[:, t]
        xs.append(x)
    return (torch.stack(xs, 1) @ c.transpose(0, 1)).real + p[prefix + "D"] * u


def linear_params(g, fan_in, fan_out, prefix):
    bound = 1 / math.sqrt(fan_in)
    return {prefix + "weight": (torch.rand(fan_out, fan_in, generator=g) * 2 - 1) * bound,
            prefix + "bias": (torch.rand(fan_out, generator=g) * 2 - 1) * bound}


def linear(p, prefix, x):
    return x @ p[prefix + "weight"].transpose(0, 1) + p[prefix + "bias"]


def block_params(g, h, n, prefix):
    p = {prefix + "norm.weight": 1 + 0.1 * torch.randn(h, generator=g), prefix + "norm.bias": 0.1 * torch.randn(h, generator=g)}
    p.update(lru_params(g, h, n, prefix + "lru."))
    p.update(linear_params(g, h, h, prefix + "glu.out1."))
    p.update(linear_params(g, h, h, prefix + "glu.out2."))
    return p


def block(p, prefix, x):  # pre-LayerNorm, LRU, exact GELU, GLU, residual (no dropout)
    z = torch.nn.functional.layer_norm(x, (x.shape[-1],), p[prefix + "norm.weight"], p[prefix + "norm.bias"], 1e-5)
    z = lru(p, prefix + "lru.", z)
    z = torch.nn.functional.gelu(z)
    z = linear(p, prefix + "glu.out1.", z) * torch.sigmoid(linear(p, prefix + "glu.out2.", z))
    return x + z


def write(name, params, u, forward, metadata):
    params = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    u = u.clone().requires_grad_(True)
    y = forward(params, u)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(99))
    (y * w).sum().backward()
    tensors = {"param." + k: v for k, v in params.items()}
    tensors.update({"input": u, "loss_weights": w, "output": y, "grad.input": u.grad})
    tensors.update({"grad." + k: v.grad for k, v in params.items()})
    save(os.path.join(HERE, name + ".safetensors"), tensors, metadata)
    print(f"wrote {name}.safetensors: output {tuple(y.shape)}, {len(params)} parameters")


def main():
    g = torch.Generator().manual_seed(0)
    bsz, length, h, n, feats, outs = 2, 7, 5, 6, 3, 4
    u = torch.randn(bsz, length, h, generator=g)

    p = lru_params(g, h, n, "")
    write("lru_layer", p, u, lambda q, x: lru(q, "", x), dict(batch=bsz, length=length, hidden=h, state=n))

    p = {**lru_params(g, h, n, "forward."), **lru_params(g, h, n, "backward.")}
    write("lru_bidirectional", p, u,
          lambda q, x: lru(q, "forward.", x) + torch.flip(lru(q, "backward.", torch.flip(x, [1])), [1]),
          dict(batch=bsz, length=length, hidden=h, state=n))

    p = block_params(g, h, n, "")
    write("lru_block", p, u, lambda q, x: block(q, "", x), dict(batch=bsz, length=length, hidden=h, state=n))

    p = {**linear_params(g, feats, h, "encoder."), **block_params(g, h, n, "blocks.0."), **block_params(g, h, n, "blocks.1."),
         **linear_params(g, h, outs, "decoder.")}
    x = torch.randn(bsz, length, feats, generator=g)

    def model(q, v):
        z = linear(q, "encoder.", v)
        z = block(q, "blocks.1.", block(q, "blocks.0.", z))
        return linear(q, "decoder.", z.mean(1))

    write("lru_model", p, x, model, dict(batch=bsz, length=length, hidden=h, state=n, features=feats, outputs=outs))


if __name__ == "__main__":
    main()
