"""One training step of cgan's default preset (`mode-seeking`) in PyTorch, CPU, 2 threads:
the same work as `cargo bench --bench step -- 32 30 5 mode-seeking`, to time against it.

Differences from ../../shared/bench/gan_torch.py (the article's step), each as cgan does it:
D without BatchNorm and with LeakyReLU 0.2; D's loss BCE(real,1) + (BCE(wrong,0) +
BCE(fake,0)) / 2; G's batch split in pairs (i, i + n/2) with the same label and different
noise, plus the mode-seeking term 2 / (min(ratio, 0.4) + 0.1) with ratio = mean|G(z1) -
G(z2)| / mean|z1 - z2|; after G's update, a moving average of G's weights and buffers
(decay min(0.999, (1 + t) / (10 + t))); tanh output; noise uniform in [-1, 1); Adam at
4e-4 for G and 1.6e-3 for D (the learning rates change nothing of a step's cost).

Usage: python gan_torch_mode_seeking.py <batch> [steps] [warmup]
"""
import sys, time, statistics, copy
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.l_lab = nn.Linear(10, 200)
        self.l_fc = nn.Linear(300, 128)
        self.c1 = nn.ConvTranspose2d(8, 128, 5, stride=2, padding=2, output_padding=1)
        self.bn1 = nn.BatchNorm2d(128)
        self.c2 = nn.ConvTranspose2d(128, 64, 5, stride=2)
        self.bn2 = nn.BatchNorm2d(64)
        self.c3 = nn.ConvTranspose2d(64, 32, 5)
        self.bn3 = nn.BatchNorm2d(32)
        self.c4 = nn.ConvTranspose2d(32, 16, 5)
        self.bn4 = nn.BatchNorm2d(16)
        self.c5 = nn.ConvTranspose2d(16, 1, 2)

    def forward(self, z, onehot):
        e = F.relu(self.l_lab(onehot))
        h = torch.cat([e, z], 1)
        h = F.relu(self.l_fc(h)).view(-1, 8, 4, 4)
        x = self.bn1(F.relu(self.c1(h)))
        x = self.bn2(F.relu(self.c2(x)))
        x = self.bn3(F.relu(self.c3(x)))
        x = self.bn4(F.relu(self.c4(x)))
        return torch.tanh(self.c5(x))


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, 2, 1)
        self.c2 = nn.Conv2d(16, 32, 3, 2, 1)
        self.c3 = nn.Conv2d(32, 64, 3, 2, 1)
        self.l_lab = nn.Linear(10, 16)
        self.c4 = nn.Conv2d(65, 128, 3, 2, 1)
        self.l_out = nn.Linear(512, 1)

    def forward(self, x, onehot):
        a = lambda t: F.leaky_relu(t, 0.2)
        h = a(self.c1(x))
        h = a(self.c2(h))
        h = a(self.c3(h))
        l = self.l_lab(onehot).view(-1, 1, 4, 4)
        h = a(self.c4(torch.cat([h, l], 1)))
        return self.l_out(h.flatten(1))


def noise(n):
    return torch.rand(n, 100) * 2 - 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    warm = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    g, d = G(), D()
    g.train(); d.train()
    g_ema = copy.deepcopy(g)
    opt_g = torch.optim.Adam(g.parameters(), lr=4e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=1.6e-3, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand(n, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
    half = n // 2
    times = []
    for it in range(warm + steps):
        t0 = time.perf_counter()
        right = torch.randint(0, 10, (n,))
        wrong = (right + torch.randint(1, 10, (n,))) % 10
        oh_r, oh_w = F.one_hot(right, 10).float(), F.one_hot(wrong, 10).float()
        # D step: G in training mode (batch statistics), no graph.
        with torch.no_grad():
            fake = g(noise(n), oh_r)
        d_loss = bce(d(real, oh_r), ones) + 0.5 * (bce(d(real, oh_w), zeros) + bce(d(fake, oh_r), zeros))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # G step: pairs (i, i + n/2) share a label.
        c2 = torch.randint(0, 10, (n,))
        c2[half:2 * half] = c2[:half]
        oh2 = F.one_hot(c2, 10).float()
        z2 = noise(n)
        x = g(z2, oh2)
        ratio = (x[:half] - x[half:2 * half]).abs().mean() / (z2[:half] - z2[half:2 * half]).abs().mean()
        ms = 2.0 / (torch.clamp(ratio, max=0.4) + 0.1)
        g_loss = bce(d(x, oh2), ones) + ms
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        with torch.no_grad():
            decay = min(0.999, (1 + it) / (10 + it))
            for pe, p in zip(g_ema.state_dict().values(), g.state_dict().values()):
                if pe.dtype.is_floating_point:
                    pe.mul_(decay).add_(p, alpha=1 - decay)
        dl, gl = d_loss.item(), g_loss.item()
        dt = (time.perf_counter() - t0) * 1e3
        if it >= warm:
            times.append(dt)
    times.sort()
    print(f"torch-mode-seeking batch={n} steps={steps} median_ms={statistics.median(times):.2f} mean_ms={statistics.mean(times):.2f} "
          f"min_ms={times[0]:.2f} max_ms={times[-1]:.2f} threads={torch.get_num_threads()} last_loss d={dl:.4f} g={gl:.4f}")


if __name__ == "__main__":
    main()
