"""Channels-last against NCHW under bf16 autocast, for the U-Nets of the ten-minute search.

Prints, for U-Net (16, 32, 64) and (32, 64, 128) (class-conditional, batch 64), the seconds of a
training step (forward, backward, fused AdamW) and of a forward pass in each memory format, and
their ratio: what :func:`ddpm_mnist.train.fastpath.faster_layout` measures before a bf16 run on
the CPU. Needs native bf16 to mean anything (on AVX2 bf16 is emulated). Usage:
``OMP_NUM_THREADS=1 python benchmarks/memory_layout.py``.
"""

from __future__ import annotations

import torch

from ddpm_mnist.core.models import build_model
from ddpm_mnist.train.fastpath import faster_layout
from ddpm_mnist.train.measured import describe_machine


def main() -> None:
    print(f"machine: {describe_machine()}, torch {torch.__version__}")
    x, t, y = torch.randn(64, 1, 28, 28), torch.randint(1, 1000, (64,)), torch.arange(64) % 10
    for channels in ((16, 32, 64), (32, 64, 128)):
        model = build_model("unet", T=1000, channels=channels, n_convs=10, num_classes=10)
        opt = torch.optim.AdamW(model.parameters(), fused=True)

        def train_step(channels_last: bool) -> None:
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = (model.to(memory_format=fmt)(x.contiguous(memory_format=fmt), t, y).float() - x).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()

        def forward(channels_last: bool) -> None:
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                model.to(memory_format=fmt)(x.contiguous(memory_format=fmt), t, y)

        for what, run in (("training step", train_step), ("forward", forward)):
            _, s = faster_layout(run, repeats=3)
            print(f"U-Net {channels} {what} of 64: NCHW {s['nchw'] * 1e3:.1f} ms, channels-last {s['channels_last'] * 1e3:.1f} ms, "
                  f"channels-last / NCHW {s['channels_last'] / s['nchw']:.2f}")


if __name__ == "__main__":
    main()
