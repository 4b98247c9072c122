"""The PyTorch twin of cgan's default recipe (`mode-seeking` preset), trained on real MNIST:
the same networks, initialisation, losses, mode-seeking term and cap, moving average of G,
Adam settings and batch as `cgan train`, so the two can be compared step for step. At
every `--every` steps it draws `--samples` images from the moving average of G (eval mode:
BatchNorm's running statistics, as cgan samples) with labels 0..9 in turn and writes them
as `images.npy` / `labels.npy` under OUT/step-NNNNNN/, which `cgan eval --from` scores
with the same pinned judge as a cgan run.

The networks and the step are those of gan_torch_mode_seeking.py (the speed reference):
G(z, c) with BatchNorm after each ReLU and a tanh output; D without BatchNorm, LeakyReLU
0.2, the label embedded as a 4 x 4 plane at the last convolution; D's loss
BCE(real, right) + (BCE(real, wrong) + BCE(fake, right)) / 2; G's batch split in pairs
(i, i + n/2) with the same label and other noise, G's loss BCE(D(G), 1) +
1 / (min(ratio, 0.4) + 0.1); after G's update the average
(decay min(0.999, (1 + t) / (10 + t))) of every weight and running statistic. PyTorch's
default initialisation is cgan's (U(-1/sqrt(fan_in), 1/sqrt(fan_in)), a transposed
convolution's fan_in from its output channels). Data: the 60000 train images scaled to
[-1, 1], shuffled each epoch, wrong labels drawn uniformly among the other nine.
What differs: the random numbers (PyTorch's generator, not cgan's streams).

Usage: python benches/gan_torch_twin.py --out runs/twin/seed-42 [--seed 42] [--steps 6000]
       [--every 1000] [--samples 2000] [--data data/mnist] [--threads 2] [--lr 2e-4]
       [--lr-d-scale 1] [--mode-seeking 1]
"""
import argparse
import copy
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gan_torch_mode_seeking import D, G, noise  # noqa: E402


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">i", raw[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "i" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_mnist(data):
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        if not os.path.exists(os.path.join(data, f)):
            sys.exit(f"error: {os.path.join(data, f)} is missing: run `make data`")
    images = read_idx(os.path.join(data, "train-images-idx3-ubyte"))
    labels = read_idx(os.path.join(data, "train-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


@torch.no_grad()
def draw(g_ema, n, gen):
    """n images from the averaged G, labels 0..9 in turn, in eval mode."""
    g_ema.eval()
    labels = torch.arange(n) % 10
    out = []
    for i in range(0, n, 500):
        c = labels[i:i + 500]
        z = torch.rand(len(c), 100, generator=gen) * 2 - 1
        out.append(g_ema(z, F.one_hot(c, 10).float()))
    return torch.cat(out).squeeze(1).numpy(), labels.numpy()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--data", default="data/mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-4, help="G's Adam learning rate (cgan's lr)")
    p.add_argument("--lr-d-scale", type=float, default=1.0, help="D's rate = lr x this (cgan's lr_d_scale)")
    p.add_argument("--mode-seeking", type=float, default=1.0, help="weight of the mode-seeking term (cgan's mode_seeking)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    images, labels = load_mnist(a.data)
    os.makedirs(a.out, exist_ok=True)

    g, d = G(), D()
    g.train()
    d.train()
    g_ema = copy.deepcopy(g)
    opt_g = torch.optim.Adam(g.parameters(), lr=a.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=a.lr * a.lr_d_scale, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    n, half = a.batch, a.batch // 2
    ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
    per_epoch = len(images) // n
    order = None
    log = open(os.path.join(a.out, "losses.csv"), "w")
    log.write("step,loss_d,loss_g,mode_seeking_ratio,seconds\n")
    t0 = time.perf_counter()
    for step in range(a.steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(images))
        idx = order[(step % per_epoch) * n:(step % per_epoch + 1) * n]
        real, right = images[idx], labels[idx]
        wrong = (right + torch.randint(1, 10, (n,))) % 10
        oh_r, oh_w = F.one_hot(right, 10).float(), F.one_hot(wrong, 10).float()
        with torch.no_grad():
            fake = g(noise(n), oh_r)
        d_loss = bce(d(real, oh_r), ones) + 0.5 * (bce(d(real, oh_w), zeros) + bce(d(fake, oh_r), zeros))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        c2 = torch.randint(0, 10, (n,))
        c2[half:2 * half] = c2[:half]
        oh2 = F.one_hot(c2, 10).float()
        z2 = noise(n)
        x = g(z2, oh2)
        ratio = (x[:half] - x[half:2 * half]).abs().mean() / (z2[:half] - z2[half:2 * half]).abs().mean()
        g_loss = bce(d(x, oh2), ones) + a.mode_seeking / (torch.clamp(ratio, max=0.4) + 0.1)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, pg in zip(g_ema.state_dict().values(), g.state_dict().values()):
                if pe.dtype.is_floating_point:
                    pe.mul_(decay).add_(pg, alpha=1 - decay)

        done = step + 1
        if done % 100 == 0:
            log.write(f"{done},{d_loss.item():.5f},{g_loss.item():.5f},{ratio.item():.5f},"
                      f"{time.perf_counter() - t0:.1f}\n")
            log.flush()
        if done % a.every == 0 or done == a.steps:
            gen = torch.Generator().manual_seed(a.seed)
            xs, ys = draw(g_ema, a.samples, gen)
            dest = os.path.join(a.out, f"step-{done:06d}")
            os.makedirs(dest, exist_ok=True)
            np.save(os.path.join(dest, "images.npy"), xs.astype(np.float32))
            np.save(os.path.join(dest, "labels.npy"), ys.astype(np.int64))
            print(f"twin: step {done} loss_d {d_loss.item():.3f} loss_g {g_loss.item():.3f} "
                  f"{time.perf_counter() - t0:.0f}s, samples in {dest}", flush=True)


if __name__ == "__main__":
    main()
