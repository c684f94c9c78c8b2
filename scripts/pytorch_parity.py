#!/usr/bin/env python3
"""Check shadergan against PyTorch (optional; needs torch and safetensors).

1. shadergan -> PyTorch: load a shadergan generator.safetensors into pytorch/examples'
   DCGAN netG with load_state_dict(strict=True), render the same latents in both, compare.
2. PyTorch -> shadergan: save a freshly initialised PyTorch netG as safetensors, let
   `shadergan sample` load it (it infers the architecture from the shapes), compare.

Usage: python scripts/pytorch_parity.py RUN_DIR [--shadergan PATH_TO_BINARY]
Prints the largest absolute and the relative L2 difference of the raw generator outputs
(float32, before quantisation); both should be ~1e-6 (f32 rounding, different kernels).
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
    args = ap.parse_args()
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
