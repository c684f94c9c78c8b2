#!/usr/bin/env python3
"""Check shadergan against PyTorch (optional; needs torch and safetensors).

1. shadergan -> PyTorch: load a shadergan generator.safetensors into pytorch/examples'
   DCGAN netG with load_state_dict(strict=True), render the same latents in both, compare.
2. PyTorch -> shadergan: save a freshly initialised PyTorch netG as safetensors, let
   `shadergan sample` load it (it infers the architecture from the shapes), compare.
3. With --iteration: replay the run's first training iteration in PyTorch from its
   initial.safetensors (initial weights, first real batch, first latents) and compare the
   losses, BatchNorm running statistics and weight updates with the run's step-1 checkpoint:
       shadergan train --conditional none --steps 1 --log-every 1 --save-initial --out runs/parity
       python scripts/pytorch_parity.py runs/parity --iteration
   WGAN-GP too (one critic step, the run's interpolation weights ε from initial.safetensors):
       shadergan train --loss wgan --gp 10 --d-norm layernorm --d-steps 1 --steps 1 --log-every 1 --save-initial --out runs/parity-wgangp
   The same for an autoencoder or VAE run (DCGAN architecture; --recon mse or bce; with
   --denoise / --mask-ratio the corrupted encoder input is in initial.safetensors too):
       shadergan train --model vae --steps 1 --log-every 1 --save-initial --out runs/parity-vae
       python scripts/pytorch_parity.py runs/parity-vae --iteration

Prints the largest absolute and the relative L2 differences; forward outputs should agree to
~1e-6 (f32 rounding in different kernels).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file


def dcgan_generator(nz, ngf, nc, size):
    """pytorch/examples dcgan/main.py's Generator, generalised to 16..128 like shadergan."""
    mult = size // 8
    layers = [nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * mult), nn.ReLU(True)]
    m = mult
    while m > 1:
        layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * m // 2), nn.ReLU(True)]
        m //= 2
    layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    g = nn.Sequential(*layers)
    return nn.ModuleDict({"main": g})["main"], g


class NetG(nn.Module):
    def __init__(self, main):
        super().__init__()
        self.main = main

    def forward(self, z):
        return self.main(z)


def dcgan_discriminator(ndf, nc, size, d_norm="batchnorm"):
    """pytorch/examples' netD; with --d-norm layernorm | none (shadergan's), LayerNorm over
    [C, H, W] or nothing after the inner convolutions, and conv biases (no BatchNorm follows)."""
    top = size // 8
    bias = d_norm != "batchnorm"
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=bias), nn.LeakyReLU(0.2)]
    m, s = 1, size // 2
    while m < top:
        s //= 2
        norm = {"batchnorm": [nn.BatchNorm2d(ndf * m * 2)], "layernorm": [nn.LayerNorm([ndf * m * 2, s, s])], "none": []}[d_norm]
        layers += [nn.Conv2d(ndf * m, ndf * m * 2, 4, 2, 1, bias=bias), *norm, nn.LeakyReLU(0.2)]
        m *= 2
    layers += [nn.Conv2d(ndf * top, 1, 4, 1, 0, bias=bias)]  # the logit, or the critic's score
    return nn.Sequential(*layers)


def load_run(run_dir):
    """config.json, initial.safetensors, the step-1 checkpoint and metrics.jsonl of a run."""
    info = json.load(open(os.path.join(run_dir, "config.json")))
    init = load_file(os.path.join(run_dir, "initial.safetensors"))
    after = load_file(os.path.join(run_dir, "checkpoint.safetensors"))
    metrics = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    if metrics[0]["step"] != 1:
        sys.exit("train with --steps 1 --log-every 1 --save-initial")
    return info, init, after, metrics


def compare_step(nets, before, after, lr):
    """Each net's state after the step against the checkpoint's: num_batches_tracked exactly,
    the BatchNorm running statistics and the weight updates by relative L2."""
    worst_stats, worst_update, worst_key, flips, flip_grad = 0.0, 0.0, "", 0, 0.0
    next_update = 0.0  # the worst among the other tensors
    for prefix, model in nets:
        grads = {k: p.grad for k, p in model.named_parameters()}
        for k, v in model.state_dict().items():
            key = prefix + k
            mine = after[key]
            if k.endswith("num_batches_tracked"):
                assert mine.item() == v.item(), (key, mine.item(), v.item())
            elif k.endswith("running_mean") or k.endswith("running_var"):
                worst_stats = max(worst_stats, compare(mine, v)[1])
            else:
                d_mine, d_torch = mine - before[key], v - before[key]
                # Adam's first step is ±lr per element (m̂/√v̂ = sign g): implementations agree
                # wherever the gradient's sign does; count the elements where it does not.
                flipped = (d_mine - d_torch).abs() > 0.5 * lr
                flips += int(flipped.sum())
                if flipped.any() and grads.get(k) is not None:
                    # How large those gradients are, against the tensor's largest.
                    g = grads[k].abs()
                    flip_grad = max(flip_grad, (g[flipped].max() / g.max()).item())
                rel = compare(d_mine, d_torch)[1] if d_torch.norm() > 0 else d_mine.norm().item()
                if rel > worst_update:
                    worst_update, next_update, worst_key = rel, worst_update, key
                else:
                    next_update = max(next_update, rel)
    print("BatchNorm running statistics: worst rel L2 %.3g" % worst_stats)
    print("weight updates: worst rel L2 %.3g (%s; every other tensor within %.3g), elements with another sign: %d" % (worst_update, worst_key, next_update, flips), end="")
    print(" (their |gradient| at most %.2g of their tensor's largest)" % flip_grad if flips else "")


def autoencoder_iteration(cfg, init, after, metrics):
    """Replay an autoencoder run's first iteration (src/train/autoencoder.rs): the encoder is
    the DCGAN discriminator without its last convolution, then Flatten and Linear to the code
    (nz, or μ and log σ² for the VAE); the decoder is the DCGAN generator (without its Tanh for
    --recon bce); one Adam over both."""
    m = cfg["model"]
    if m.get("arch", "dcgan") != "dcgan":
        sys.exit("this script replays the DCGAN autoencoders (--arch dcgan)")
    nz, size, nc = m["nz"], m["image_size"], m["channels"]
    top = size // 8
    width = 2 * nz if m["variational"] else nz
    enc_layers = list(dcgan_discriminator(m["ndf"], nc, size))[:-1] + [nn.Flatten(), nn.Linear(m["ndf"] * top * 16, width)]
    enc = NetG(nn.Sequential(*enc_layers))
    g_layers = list(dcgan_generator(nz, m["ngf"], nc, size)[1])
    bce = m.get("recon", "mse") == "bce"
    if bce:
        g_layers = g_layers[:-1]  # the Tanh: the decoder outputs a logit per pixel
    dec = NetG(nn.Sequential(*g_layers))
    enc.load_state_dict({k[8:]: v for k, v in init.items() if k.startswith("encoder.")}, strict=True)
    dec.load_state_dict({k[8:]: v for k, v in init.items() if k.startswith("decoder.")}, strict=True)
    images, inputs = init["images"], init["input"]
    B = images.shape[0]
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=1e-8)
    code = enc(inputs)
    kl = torch.zeros(())
    if m["variational"]:
        mu, logvar = code[:, :nz], code[:, nz:]
        z = mu + torch.exp(0.5 * logvar) * init["eps"]
        kl = (-0.5 * (1 + logvar - mu * mu - logvar.exp())).sum() / B
        # The KL weight at step t = 1 (vae.wgsl: β·min(1, t/warmup)).
        w = cfg["beta"] * (min(1.0, 1.0 / cfg["kl_warmup"]) if cfg["kl_warmup"] > 0 else 1.0)
    else:
        z, w = code, 0.0
    out = dec(z.reshape(B, nz, 1, 1))
    if bce:
        recon = nn.functional.binary_cross_entropy_with_logits(out, (images + 1) / 2, reduction="sum") / B
    else:
        recon = 0.5 * ((out - images) ** 2).sum() / B
    opt.zero_grad()
    (recon + w * kl).backward()
    opt.step()
    sg = metrics[0]
    print("recon   shadergan %.7f  PyTorch %.7f" % (sg["recon"], recon.item()))
    if m["variational"]:
        print("KL      shadergan %.7f  PyTorch %.7f" % (sg["kl"], kl.item()))
    compare_step([("encoder.", enc), ("decoder.", dec)], init, after, cfg["lr"])


def iteration(run_dir):
    info, init, after, metrics = load_run(run_dir)
    cfg = info["config"]
    if info.get("objective") == "autoencoder":
        autoencoder_iteration(cfg, init, after, metrics)
        return
    m = cfg["model"]
    unsupported = [flag for flag, on in [("--conditional", m.get("conditional")), ("--spectral-norm", m.get("spectral_norm")),
                                         ("--minibatch-std", m.get("minibatch_std")), ("--r1", cfg.get("r1")), ("--clip", cfg.get("clip")),
                                         ("--mismatch-weight", cfg.get("mismatch_weight")), ("--loss %s" % cfg["loss"], cfg["loss"] not in ("ns", "minimax", "wgan")),
                                         ("--d-steps %d" % cfg["d_steps"], cfg["d_steps"] != 1), ("--optimizer %s" % cfg.get("optimizer", "adam"), cfg.get("optimizer", "adam") != "adam")] if on]
    if m["model"] != "dcgan" or unsupported:
        sys.exit("this script replays the unconditional DCGAN with one D step and Adam (ns, minimax, wgan with --gp); not %s" % ", ".join(unsupported or ["--model " + m["model"]]))
    d_norm = m.get("d_norm", "batchnorm")
    _, g_main = dcgan_generator(m["nz"], m["ngf"], m["channels"], m["image_size"])
    G = NetG(g_main)
    D = NetG(dcgan_discriminator(m["ndf"], m["channels"], m["image_size"], d_norm))
    G.load_state_dict({k[5:]: v for k, v in init.items() if k.startswith("netG.")}, strict=True)
    D.load_state_dict({k[5:]: v for k, v in init.items() if k.startswith("netD.")}, strict=True)
    before = {k: v.clone() for k, v in init.items()}
    real, z = init["real"], init["z"].reshape(-1, m["nz"], 1, 1)
    B = real.shape[0]
    crit = nn.BCEWithLogitsLoss()
    betas = (cfg["beta1"], cfg["beta2"])
    optD = torch.optim.Adam(D.parameters(), lr=cfg["lr_d"], betas=betas, eps=1e-8)
    optG = torch.optim.Adam(G.parameters(), lr=cfg["lr_g"], betas=betas, eps=1e-8)
    # The pytorch/examples iteration (the D losses summed, one backward).
    fake = G(z)
    D.zero_grad()
    wgan = cfg["loss"] == "wgan"
    if wgan:
        # The critic's loss E[D(G(z))] − E[D(x)], and WGAN-GP's λ·E[(‖∂D(x̂)/∂x̂‖ − 1)²] at
        # x̂ = εx + (1 − ε)G(z) with the run's ε (the gradients' norm with shadergan's 1e-12
        # inside the square root, which cannot matter at these norms).
        err_real, err_fake = -D(real).mean(), D(fake.detach()).mean()
        penalty = torch.zeros(())
        if cfg.get("gp"):
            eps = init["gp_epsilon"].reshape(B, 1, 1, 1)
            x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            penalty = cfg["gp"] * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
        (err_real + err_fake + penalty).backward()
    else:
        err_real = crit(D(real).view(-1), torch.ones(B))
        err_fake = crit(D(fake.detach()).view(-1), torch.zeros(B))
        (err_real + err_fake).backward()
    optD.step()
    G.zero_grad()
    if wgan:
        err_g = -D(fake).mean()
    elif cfg["loss"] == "ns":
        err_g = crit(D(fake).view(-1), torch.ones(B))
    else:
        err_g = -crit(D(fake).view(-1), torch.zeros(B))
    err_g.backward()
    optG.step()
    sg = metrics[0]
    print("loss_D  shadergan %.7f  PyTorch %.7f" % (sg["loss_D"], (err_real + err_fake).item()))
    if wgan and cfg.get("gp"):
        print("penalty shadergan %.7f  PyTorch %.7f" % (sg["penalty"], penalty.item()))
    print("loss_G  shadergan %.7f  PyTorch %.7f" % (sg["loss_G"], err_g.item()))
    compare_step([("netG.", G), ("netD.", D)], before, after, cfg["lr_g"])


def compare(a, b):
    d = (a - b).double()
    return d.abs().max().item(), (d.norm() / b.double().norm()).item()


def shadergan_sample(binary, checkpoint, z, workdir):
    zfile = os.path.join(workdir, "z.safetensors")
    raw = os.path.join(workdir, "raw.safetensors")
    save_file({"z": z.reshape(z.shape[0], -1).contiguous()}, zfile)
    subprocess.run([binary, "sample", "--checkpoint", checkpoint, "--latents", zfile, "--raw-out", raw,
                    "--out", os.path.join(workdir, "grid.png")], check=True)
    return load_file(raw)["images"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--shadergan", default="target/release/shadergan")
    ap.add_argument("--iteration", action="store_true", help="replay the first training iteration")
    args = ap.parse_args()
    if args.iteration:
        iteration(args.run_dir)
        return
    gen = os.path.join(args.run_dir, "generator.safetensors")
    with open(gen, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(header_len)).get("__metadata__", {})
    model = json.loads(meta["model"])
    if model["model"] != "dcgan":
        sys.exit("this script compares DCGAN generators")
    nz, ngf, nc, size = model["nz"], model["ngf"], model["channels"], model["image_size"]
    torch.manual_seed(0)
    z = torch.randn(16, nz, 1, 1)
    with tempfile.TemporaryDirectory() as tmp:
        # 1. shadergan's weights in PyTorch.
        _, main = dcgan_generator(nz, ngf, nc, size)
        netG = NetG(main)
        missing = netG.load_state_dict(load_file(gen), strict=True)
        print(f"load_state_dict(strict=True): {missing}")
        netG.eval()
        with torch.no_grad():
            want = netG(z)
        got = shadergan_sample(args.shadergan, gen, z, tmp)
        print("shadergan weights, PyTorch vs shadergan forward: max |diff| %.3g, rel L2 %.3g" % compare(got, want))
        # 2. PyTorch's weights in shadergan (DCGAN init, BatchNorm statistics made non-trivial).
        _, main = dcgan_generator(nz, ngf, nc, size)
        netG = NetG(main)
        for m in netG.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.normal_(m.bias, 0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        torch_file = os.path.join(tmp, "netG_pytorch.safetensors")
        save_file({k: v.contiguous() for k, v in netG.state_dict().items()}, torch_file)
        netG.eval()
        with torch.no_grad():
            want = netG(z)
        got = shadergan_sample(args.shadergan, torch_file, z, tmp)
        print("PyTorch weights, PyTorch vs shadergan forward:  max |diff| %.3g, rel L2 %.3g" % compare(got, want))


if __name__ == "__main__":
    main()
