#!/usr/bin/env python3
"""The README's MNIST DCGAN in PyTorch (optional; needs torch, numpy and safetensors), with
shadergan's discriminator options, to tell an implementation's bug from a setting's behaviour.

Same networks as `shadergan train --dataset mnist --ngf 32 --ndf 32 --batch-size 64`: 32×32
(28×28 padded), nz 64, DCGAN init (conv weights N(0, 0.02), conv biases 0, BatchNorm γ
N(1, 0.02)), Adam 2e-4 (0.5, 0.999), the non-saturating loss, one D step per G step on the
same fake batch (pytorch/examples' order). D's normalisation (--d-norm batchnorm | layernorm |
none; the convolutions get biases without BatchNorm), R1 (--r1 γ: γ/2·E‖∂D(x)/∂x‖² on the
real batch, by double backward) and the minibatch standard deviation layer before D's last
convolution (--minibatch-std G, stylegan2-ada's) mirror shadergan's flags; --gp λ is WGAN-GP
as `--loss wgan --gp λ` (its paper's Adam 1e-4, β (0.5, 0.9), 5 critic steps).

Every 100 steps it prints the losses and the samples' spread: the per-pixel standard deviation
over 64 fixed latents (G in eval mode), averaged over the pixels — about 0.27 for 64 real
digits, near 0 when G has collapsed to one image. At the end it writes 2 000 samples as an
`images` safetensors, which shadergan scores like its own:

    python scripts/pytorch_dcgan_mnist.py --d-norm none --r1 1 --steps 1000 --out pt.safetensors
    shadergan eval --fake pt.safetensors --classifier runs/mnist-classifier
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file


class MinibatchStd(nn.Module):
    """stylegan2-ada's MinibatchStdLayer with num_channels=1."""

    def __init__(self, group):
        super().__init__()
        self.group = group

    def forward(self, x):
        n, c, h, w = x.shape
        g = min(self.group, n)
        y = x.reshape(g, -1, c, h, w)
        y = ((y - y.mean(0)).square().mean(0) + 1e-8).sqrt().mean([1, 2, 3])
        return torch.cat([x, y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)], 1)


def networks(args, nz=64, ngf=32, ndf=32):
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh())
    bias = args.d_norm != "batchnorm"

    def norm(c, s):
        return {"batchnorm": [nn.BatchNorm2d(c)], "layernorm": [nn.LayerNorm([c, s, s])], "none": []}[args.d_norm]

    top = ndf * 4 + (1 if args.minibatch_std else 0)
    d = nn.Sequential(
        nn.Conv2d(1, ndf, 4, 2, 1, bias=bias), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=bias), *norm(ndf * 2, 8), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=bias), *norm(ndf * 4, 4), nn.LeakyReLU(0.2),
        *([MinibatchStd(args.minibatch_std)] if args.minibatch_std else []),
        nn.Conv2d(top, 1, 4, 1, 0, bias=bias))
    for m in list(g.modules()) + list(d.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return g, d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/datasets/mnist/t10k-images-idx3-ubyte.gz"))
    ap.add_argument("--d-norm", choices=["batchnorm", "layernorm", "none"], default="batchnorm")
    ap.add_argument("--r1", type=float, default=0.0)
    ap.add_argument("--gp", type=float, default=0.0, help="WGAN-GP: the Wasserstein loss, λ·E[(‖∂D(x̂)/∂x̂‖ − 1)²] on interpolates, 5 critic steps per G step, Adam 1e-4 (0.5, 0.9) (shadergan's --loss wgan --gp λ)")
    ap.add_argument("--minibatch-std", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="pytorch_samples.safetensors")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    with gzip.open(args.data) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    x = torch.from_numpy(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))).astype(np.float32) / 127.5 - 1)
    nz = 64
    G, D = networks(args, nz)
    lr, betas, d_steps = (1e-4, (0.5, 0.9), 5) if args.gp > 0 else (2e-4, (0.5, 0.999), 1)
    opt_d = torch.optim.Adam(D.parameters(), lr, betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr, betas=betas)
    softplus = nn.functional.softplus
    fixed = torch.randn(64, nz, 1, 1)
    start = time.time()
    for step in range(1, args.steps + 1):
        for _ in range(d_steps):
            real = x[torch.randint(0, len(x), (64,))].requires_grad_(args.r1 > 0)
            fake = G(torch.randn(64, nz, 1, 1))
            d_real = D(real).view(-1)
            if args.gp > 0:
                loss_d = D(fake.detach()).mean() - d_real.mean()
                eps = torch.rand(64, 1, 1, 1)
                x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
                (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
                loss_d = loss_d + args.gp * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
            else:
                loss_d = softplus(-d_real).mean() + softplus(D(fake.detach()).view(-1)).mean()
            if args.r1 > 0:
                (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
                loss_d = loss_d + args.r1 / 2 * grad.pow(2).sum([1, 2, 3]).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        loss_g = -D(fake).mean() if args.gp > 0 else softplus(-D(fake).view(-1)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % 100 == 0:
            G.eval()
            with torch.no_grad():
                spread = G(fixed).std(0).mean().item()
            G.train()
            print(f"step {step} loss_D {loss_d.item():.3f} loss_G {loss_g.item():.3f} spread {spread:.3f} ({time.time() - start:.0f} s)", flush=True)
    G.eval()
    with torch.no_grad():
        samples = torch.cat([G(torch.randn(500, nz, 1, 1)) for _ in range(4)])
    save_file({"images": samples.contiguous()}, args.out)
    print(f"wrote {len(samples)} samples to {args.out}")


if __name__ == "__main__":
    main()
