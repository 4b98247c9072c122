"""Runs a PyTorch reference step script (../shared/bench/gan_torch.py,
benches/gan_torch_mode_seeking.py) unchanged on the GPU: every tensor and module it makes
lands on CUDA through torch's default device. Each step ends in `.item()`, which waits for
the GPU, so the scripts' per-step times stay true.

Usage: python torch_on_cuda.py SCRIPT <batch> [steps] [warmup]
"""
import runpy
import sys

import torch

if not torch.cuda.is_available():
    sys.exit("torch_on_cuda: torch sees no CUDA device")
torch.set_default_device("cuda")
script = sys.argv[1]
sys.argv = sys.argv[1:]
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
runpy.run_path(script, run_name="__main__")
print(f"torch peak memory allocated {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")
