"""PyTorch's side of `cargo bench --bench layers`: each convolution of the article's G and D
at a batch, forward and backward (dW + dx), fastest of `reps` in milliseconds.
Usage: python conv_layers_torch.py [batch] [reps]"""
import sys, time
import torch
import torch.nn as nn

torch.set_num_threads(2)
torch.manual_seed(0)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 32
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
# name, layer, (input channels, input side): the same layers as benches/layers.rs
layers = [
    ("G up1", nn.ConvTranspose2d(8, 128, 5, 2, 2, 1), (8, 4)),
    ("G up2", nn.ConvTranspose2d(128, 64, 5, 2), (128, 8)),
    ("G up3", nn.ConvTranspose2d(64, 32, 5), (64, 19)),
    ("G up4", nn.ConvTranspose2d(32, 16, 5), (32, 23)),
    ("G out", nn.ConvTranspose2d(16, 1, 2), (16, 27)),
    ("D c1", nn.Conv2d(1, 16, 3, 2, 1), (1, 28)),
    ("D c2", nn.Conv2d(16, 32, 3, 2, 1), (16, 14)),
    ("D c3", nn.Conv2d(32, 64, 3, 2, 1), (32, 7)),
    ("D c4", nn.Conv2d(65, 128, 3, 2, 1), (65, 4)),
]


def fastest_ms(f):
    f()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


print(f"torch layer  forward_ms  backward_ms (dW + dx)   (batch {n}, {torch.get_num_threads()} threads)")
total_f = total_b = 0.0
for name, layer, (c, side) in layers:
    x = torch.rand(n, c, side, side, requires_grad=True)
    with torch.no_grad():
        fwd = fastest_ms(lambda: layer(x))
    y = layer(x)
    g = torch.rand_like(y)

    def backward():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        y = layer(x)
        y.backward(g)

    bwd = fastest_ms(backward) - fastest_ms(lambda: layer(x))
    total_f += fwd
    total_b += bwd
    print(f"torch {name:6} {fwd:10.2f} {bwd:12.2f}")
print(f"torch total  {total_f:10.2f} {total_b:12.2f}")
