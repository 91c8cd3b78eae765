#!/usr/bin/env python3
"""Writes the PyTorch parity fixtures (safetensors, float64) that tests/Lru.Tests/IO/ParityTests.cs and
ParityMoreTests.cs read.

Most fixtures hold the weights, an input, the output and the gradients (input and every parameter) of the loss
L = sum(w * y) for fixed random weights w, computed with PyTorch 1.13 autograd in float64 from the formulas of
LRU-MATH. The C# tests load the weights, run forward and backward, and compare. Parameter names are the library's
hierarchical names (norm.weight, lru.nu_log, glu.out1.weight, mlp.fc2.bias, encoder.weight, blocks.0.…, decoder.bias).

    /usr/bin/python3 tests/Lru.Tests/Fixtures/make_fixtures.py [name ...]   # needs Debian's python3-torch

With names, only those fixtures are written (everything is still computed in order). The computed values of a
rerun may differ from the committed files in the last bits (BLAS and CPU), so regenerate only what you change.

Layer, block and model fixtures: tensors param.<name>, input, loss_weights, output, grad.input, grad.<name>;
metadata batch, length, hidden, state (and what else is listed).
    lru_layer                       one LRU layer (seed 0, shared by the next three)
    lru_bidirectional               forward.* + backward.* LRUs, summed (the BidirectionalLru)
    lru_block                       pre-LayerNorm, LRU, exact GELU, GLU, residual
    lru_model                       Linear encoder, 2 such blocks, mean pooling, Linear decoder (features, outputs)
    lru_block_batchnorm_post_mlp    BatchNorm (training mode: batch statistics, eps 1e-5, momentum 0.1) post-norm
                                    y = Norm(x + z), tanh GELU, MLP expansion 2 (mlp.fc1.*, mlp.fc2.*), residual;
                                    also buffer.norm.running_mean and buffer.norm.running_var after the forward pass
                                    (from mean 0, var 1; unbiased variance). Metadata norm, placement, mixer, gelu,
                                    residual, dropout, mlp_expansion, momentum, epsilon, running_init.
                                    grad.mlp.fc2.bias is 0 in exact arithmetic (the BatchNorm after the residual
                                    removes any per-feature constant), so it holds rounding noise (about 1e-15).
    lru_block_batchnorm_pre_glu     pre-norm BatchNorm, exact GELU, GLU; buffers as above
    lru_block_layernorm_post_tanh   post-norm LayerNorm, tanh GELU, GLU
    lru_model_tokens                Embedding encoder (encoder.weight, vocabulary × H), 2 post-LayerNorm GLU tanh-GELU
                                    blocks, mean over the valid steps only, Linear decoder; input = token ids (B, L)
                                    as float64, lengths (B) as float64, no grad.input. Metadata vocabulary, outputs,
                                    layers, pooling, and the block settings.
    lru_reverse                     an LRU layer in reverse time, y = flip(lru(flip(u))), checked here against the
                                    direct recurrence x_t = λ x_{t+1} + γ B u_t (direction = reverse)
Loss fixtures (seed 105), with a per-row mask: logits (for MSE the predictions), targets, mask (1: the row counts),
loss (shape [1]) and grad.logits (zero on masked rows); metadata rows, counted_rows, reduction, correct.
    loss_cross_entropy              softmax cross-entropy, targets class ids (−1 on masked rows), mean over counted rows
    loss_mse                        mean squared error, mean over counted rows × features
    loss_bce                        binary cross-entropy with logits (targets 0, 1 and soft), mean over counted rows × outputs
Optimiser fixture:
    adamw                           two steps of torch.optim.AdamW over lru.* (an LRU layer's eight) and linear.weight,
                                    linear.bias with the library's groups (ssm: nu_log, theta_log, gamma_log, B_re, B_im
                                    at lr·factor without decay; decay: the rest); constant schedule. Tensors param.*,
                                    grad1.*, grad2.*, step1.*, step2.*, exp_avg.*, exp_avg_sq.* (after step 2); metadata
                                    learning_rate, weight_decay, ssm_learning_rate(_factor), beta1, beta2, epsilon,
                                    schedule, group_ssm, group_decay, group_no_decay, …
"""
import math
import os
import sys

import torch

import safetensors_writer

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
ONLY = set(sys.argv[1:])  # fixture names to write; empty: all


def save(path, tensors, metadata, note=""):
    if ONLY and os.path.splitext(os.path.basename(path))[0] not in ONLY:
        return  # computed (so every generator advances as in a full run) but not written
    safetensors_writer.write(path, [(name, "F64", t.shape, t.detach().contiguous().to(torch.float64).numpy().tobytes())
                                    for name, t in tensors.items()], metadata)
    print(f"wrote {os.path.basename(path)}{note}")


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


def write(name, params, u, forward, metadata, w_seed=99, extra=None, input_grad=True):
    """Runs forward on (params, u), backward of L = sum(w * y), and saves the fixture.

    w comes from its own generator (seed w_seed); extra() is called after the backward pass and returns more
    tensors to store (buffers, lengths); input_grad=False for integer inputs (tokens), which have no gradient.
    """
    params = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    u = u.clone().requires_grad_(input_grad)
    y = forward(params, u)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(w_seed))
    (y * w).sum().backward()
    tensors = {"param." + k: v for k, v in params.items()}
    tensors.update({"input": u, "loss_weights": w, "output": y})
    if input_grad:
        tensors["grad.input"] = u.grad
    tensors.update({"grad." + k: v.grad for k, v in params.items()})
    if extra is not None:
        tensors.update(extra())
    save(os.path.join(HERE, name + ".safetensors"), tensors, metadata, f": output {tuple(y.shape)}, {len(params)} parameters")


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



# ---- More fixtures (written after the ones above; each draws from its own generator, so the old ones are unchanged).

F = torch.nn.functional


def variant_block_params(g, h, n, prefix, mixer, expansion=2):
    p = {prefix + "norm.weight": 1 + 0.1 * torch.randn(h, generator=g), prefix + "norm.bias": 0.1 * torch.randn(h, generator=g)}
    p.update(lru_params(g, h, n, prefix + "lru."))
    if mixer == "glu":
        p.update(linear_params(g, h, h, prefix + "glu.out1."))
        p.update(linear_params(g, h, h, prefix + "glu.out2."))
    else:
        p.update(linear_params(g, h, expansion * h, prefix + "mlp.fc1."))
        p.update(linear_params(g, expansion * h, h, prefix + "mlp.fc2."))
    return p


def batchnorm_buffers(h, prefix):  # the library's initial running statistics (PyTorch's): mean 0, variance 1
    return {prefix + "norm.running_mean": torch.zeros(h), prefix + "norm.running_var": torch.ones(h)}


def norm(p, prefix, x, kind, buffers):
    weight, bias = p[prefix + "norm.weight"], p[prefix + "norm.bias"]
    if kind == "layernorm":
        return F.layer_norm(x, (x.shape[-1],), weight, bias, 1e-5)
    # BatchNorm1d over (B, H, L) in training mode: batch statistics over batch and time per feature; the running
    # statistics are updated in place (momentum 0.1, unbiased variance).
    return F.batch_norm(x.transpose(1, 2), buffers[prefix + "norm.running_mean"], buffers[prefix + "norm.running_var"],
                        weight, bias, training=True, momentum=0.1, eps=1e-5).transpose(1, 2)


def variant_block(p, prefix, x, kind, placement, mixer, gelu, buffers=None):
    """One LruBlock with residual and no dropout: pre-norm x + f(Norm(x)) or post-norm Norm(x + f(x)), where
    f = mixer(GELU(LRU(.))); the MLP's inner GELU has the same approximation as the block's."""
    z = norm(p, prefix, x, kind, buffers) if placement == "pre" else x
    z = F.gelu(lru(p, prefix + "lru.", z), approximate=gelu)
    if mixer == "glu":
        z = linear(p, prefix + "glu.out1.", z) * torch.sigmoid(linear(p, prefix + "glu.out2.", z))
    else:
        z = linear(p, prefix + "mlp.fc2.", F.gelu(linear(p, prefix + "mlp.fc1.", z), approximate=gelu))
    return x + z if placement == "pre" else norm(p, prefix, x + z, kind, buffers)


def write_variant_block(name, seed, kind, placement, mixer, gelu, expansion=2):
    g = torch.Generator().manual_seed(seed)
    bsz, length, h, n = 2, 7, 5, 6
    # An input with a mean and a scale away from 0 and 1, so that the batch statistics matter.
    u = 0.3 + 1.5 * torch.randn(bsz, length, h, generator=g)
    p = variant_block_params(g, h, n, "", mixer, expansion)
    buffers = batchnorm_buffers(h, "") if kind == "batchnorm" else {}
    meta = dict(batch=bsz, length=length, hidden=h, state=n, norm=kind, placement=placement, mixer=mixer, gelu=gelu,
                residual="true", dropout=0.0)
    if mixer == "mlp":
        meta["mlp_expansion"] = expansion
    if kind == "batchnorm":
        meta.update(momentum=0.1, epsilon=1e-5, running_init="mean 0, var 1")
    else:
        meta.update(epsilon=1e-5)
    write(name, p, u, lambda q, x: variant_block(q, "", x, kind, placement, mixer, gelu, buffers), meta, w_seed=seed + 50,
          extra=lambda: {"buffer." + k: v for k, v in buffers.items()})


def write_token_model(seed):
    """Embedding encoder, two post-norm LayerNorm + GLU + tanh-GELU blocks, mean pooling over the valid steps of
    each sequence, Linear decoder. The blocks are causal and normalise each step on its own, so padded steps cannot
    change the output (checked below) and receive zero gradient."""
    g = torch.Generator().manual_seed(seed)
    bsz, length, h, n, vocab, outs = 3, 6, 4, 5, 7, 3
    lengths = torch.tensor([6, 3, 1])
    tokens = torch.randint(0, vocab - 1, (bsz, length), generator=g)  # token vocab - 1 never occurs: its row's gradient is 0
    p = {"encoder.weight": torch.randn(vocab, h, generator=g)}
    p.update(variant_block_params(g, h, n, "blocks.0.", "glu"))
    p.update(variant_block_params(g, h, n, "blocks.1.", "glu"))
    p.update(linear_params(g, h, outs, "decoder."))
    valid = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).to(torch.float64)  # (B, L)

    def model(q, ids):
        z = q["encoder.weight"][ids.long()]
        for i in range(2):
            z = variant_block(q, f"blocks.{i}.", z, "layernorm", "post", "glu", "tanh")
        pooled = (z * valid.unsqueeze(-1)).sum(1) / lengths.unsqueeze(1).to(torch.float64)
        return linear(q, "decoder.", pooled)

    # Padding really is excluded: other tokens in the padded steps give the same output.
    repadded = torch.where(valid.bool(), tokens, (tokens + 3) % vocab)
    assert torch.allclose(model(p, tokens), model(p, repadded), rtol=0, atol=1e-14)
    write("lru_model_tokens", p, tokens.to(torch.float64), model,
          dict(batch=bsz, length=length, hidden=h, state=n, vocabulary=vocab, outputs=outs, layers=2, pooling="mean",
               norm="layernorm", placement="post", mixer="glu", gelu="tanh", residual="true", dropout=0.0),
          w_seed=seed + 50, input_grad=False, extra=lambda: {"lengths": lengths.to(torch.float64)})


def write_losses(seed):
    """Losses with a per-row mask (mask 1: the row counts). Stored: logits (for MSE, the predictions), targets, mask,
    loss (shape [1]) and grad.logits = d loss / d logits (zero on masked rows)."""
    g = torch.Generator().manual_seed(seed)
    rows, classes = 6, 4
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    counted = mask.bool()

    def one(name, logits, targets, loss_of, meta):
        z = logits.clone().requires_grad_(True)
        loss = loss_of(z)
        loss.backward()
        save(os.path.join(HERE, name + ".safetensors"),
             {"logits": z, "targets": targets, "mask": mask, "loss": loss.reshape(1), "grad.logits": z.grad},
             dict(rows=rows, counted_rows=int(mask.sum()), **meta), f": loss {loss.item():.6f}")

    # Softmax cross-entropy, the mean over counted rows. Masked rows have target -1 (the library does not read them);
    # one counted row has a large logit, so the log-sum-exp shift matters.
    logits = 2 * torch.randn(rows, classes, generator=g)
    logits[3, 1] = 40.0
    targets = torch.randint(0, classes, (rows,), generator=g)
    targets[~counted] = -1
    correct = int(((logits.argmax(1) == targets) & counted).sum())
    one("loss_cross_entropy", logits, targets.to(torch.float64),
        lambda z: F.cross_entropy(z, targets, ignore_index=-1, reduction="mean"),
        dict(classes=classes, reduction="mean over counted rows", correct=correct))

    # Mean squared error, the mean over counted rows * features (targets of masked rows are ordinary numbers).
    features = 3
    predictions = torch.randn(rows, features, generator=g)
    targets = torch.randn(rows, features, generator=g)
    one("loss_mse", predictions, targets,
        lambda z: F.mse_loss(z[counted], targets[counted], reduction="mean"),
        dict(features=features, reduction="mean over counted rows * features"))

    # Binary cross-entropy with logits, the mean over counted rows * outputs; targets 0, 1 and some soft ones.
    outputs = 3
    logits = 3 * torch.randn(rows, outputs, generator=g)
    logits[1, 2] = -30.0
    targets = (torch.rand(rows, outputs, generator=g) > 0.5).to(torch.float64)
    targets[0, 1], targets[5, 0] = 0.25, 0.7
    correct = int((((logits > 0) == (targets > 0.5)) & counted.unsqueeze(1)).sum())
    one("loss_bce", logits, targets,
        lambda z: F.binary_cross_entropy_with_logits(z[counted], targets[counted], reduction="mean"),
        dict(outputs=outputs, reduction="mean over counted rows * outputs", correct=correct))


def write_adamw(seed):
    """Two steps of torch.optim.AdamW over an LRU layer's eight parameters (lru.*) and a Linear's (linear.*) with the
    library's groups: ssm = lru.{nu_log, theta_log, gamma_log, B_re, B_im} (SSM rate = factor * base rate, no weight
    decay); decay = every other parameter (base rate, weight decay; the library excludes nothing by default);
    no_decay is empty. Constant schedule (factor 1). Stored: param.* (before), grad1.*, grad2.* (the gradients of the
    two steps), step1.*, step2.* (the parameters after each step), exp_avg.* and exp_avg_sq.* (after step 2)."""
    g = torch.Generator().manual_seed(seed)
    h, n, fan_in, fan_out = 3, 4, 3, 2
    lr, wd, ssm_factor, betas, eps = 0.01, 0.1, 0.5, (0.9, 0.999), 1e-8
    p = {**lru_params(g, h, n, "lru."), **linear_params(g, fan_in, fan_out, "linear.")}
    grads = [{k: torch.randn(v.shape, generator=g) for k, v in p.items()} for _ in range(2)]
    grads[0]["lru.D"][0] = 0.0  # a zero gradient: only the decay moves that element in step 1
    ssm = [k for k in p if k.split(".")[-1] in ("nu_log", "theta_log", "gamma_log", "B_re", "B_im")]
    decay = [k for k in p if k not in ssm]
    params = {k: v.clone() for k, v in p.items()}
    opt = torch.optim.AdamW([{"params": [params[k] for k in decay], "lr": lr, "weight_decay": wd},
                             {"params": [params[k] for k in ssm], "lr": lr * ssm_factor, "weight_decay": 0.0}],
                            lr=lr, betas=betas, eps=eps, weight_decay=wd, amsgrad=False, maximize=False, foreach=False)
    tensors = {"param." + k: v.clone() for k, v in p.items()}
    for step in (1, 2):
        for k, v in params.items():
            v.grad = grads[step - 1][k].clone()
        opt.step()
        tensors.update({f"grad{step}." + k: v for k, v in grads[step - 1].items()})
        tensors.update({f"step{step}." + k: v.clone() for k, v in params.items()})
    for k, v in params.items():
        tensors["exp_avg." + k] = opt.state[v]["exp_avg"].clone()
        tensors["exp_avg_sq." + k] = opt.state[v]["exp_avg_sq"].clone()
    save(os.path.join(HERE, "adamw.safetensors"), tensors,
         dict(hidden=h, state=n, linear_in=fan_in, linear_out=fan_out, learning_rate=lr, weight_decay=wd,
              ssm_learning_rate_factor=ssm_factor, ssm_learning_rate=lr * ssm_factor, beta1=betas[0], beta2=betas[1],
              epsilon=eps, schedule="constant 1", exclude_from_weight_decay="none (library default)",
              steps=2, group_ssm=",".join(ssm), group_decay=",".join(decay), group_no_decay=""),
         f": {len(p)} parameters, 2 steps")


def lru_reverse_direct(p, prefix, u):  # x_t = λ x_{t+1} + γ B u_t from t = L down, x_{L+1} = 0; y_t = Re(C x_t) + D u_t
    lam = torch.exp(torch.complex(-torch.exp(p[prefix + "nu_log"]), torch.exp(p[prefix + "theta_log"])))
    gamma = torch.exp(p[prefix + "gamma_log"]).unsqueeze(-1)
    b = torch.complex(p[prefix + "B_re"] * gamma, p[prefix + "B_im"] * gamma)
    c = torch.complex(p[prefix + "C_re"], p[prefix + "C_im"])
    bu = u.to(torch.complex128) @ b.transpose(0, 1)
    x = torch.zeros(u.shape[0], lam.shape[0], dtype=torch.complex128)
    xs = [None] * u.shape[1]
    for t in reversed(range(u.shape[1])):
        x = lam * x + bu[:, t]
        xs[t] = x
    return (torch.stack(xs, 1) @ c.transpose(0, 1)).real + p[prefix + "D"] * u


def write_reverse(seed):
    """An LRU layer in reverse time, y = flip(lru(flip(u))), after checking it against the direct reverse recurrence
    in value and every gradient."""
    g = torch.Generator().manual_seed(seed)
    bsz, length, h, n = 2, 7, 5, 6
    u = torch.randn(bsz, length, h, generator=g)
    p = lru_params(g, h, n, "")

    def flipped(q, x):
        return torch.flip(lru(q, "", torch.flip(x, [1])), [1])

    w = torch.randn(bsz, length, h, generator=torch.Generator().manual_seed(seed + 50))
    results = []
    for f in (flipped, lambda q, x: lru_reverse_direct(q, "", x)):
        q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
        x = u.clone().requires_grad_(True)
        y = f(q, x)
        (y * w).sum().backward()
        results.append([y, x.grad] + [q[k].grad for k in p])
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=0, atol=1e-12), (a - b).abs().max()
    # The reversed sequence's first step is the last one of u: y_L depends on u_L only.
    assert torch.allclose(results[0][0][:, -1], lru(p, "", u[:, -1:])[:, 0], rtol=0, atol=1e-14)
    write("lru_reverse", p, u, flipped, dict(batch=bsz, length=length, hidden=h, state=n, direction="reverse"), w_seed=seed + 50)


def main_more():
    write_variant_block("lru_block_batchnorm_post_mlp", 101, "batchnorm", "post", "mlp", "tanh", expansion=2)
    write_variant_block("lru_block_batchnorm_pre_glu", 102, "batchnorm", "pre", "glu", "none")
    write_variant_block("lru_block_layernorm_post_tanh", 103, "layernorm", "post", "glu", "tanh")
    write_token_model(104)
    write_losses(105)
    write_adamw(106)
    write_reverse(107)


if __name__ == "__main__":
    main()
    main_more()
