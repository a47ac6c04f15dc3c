"""Training throughput of the report's baseline U-Net ((32, 64, 128), 10 convolutions, batch 256).

Prints images/s and GFLOP/s of one optimisation step for
  * the naive loop: eager fp32, the textbook ``zero_grad / backward / step``;
  * each variant of the project's step (:func:`ddpm_mnist.training.make_train_step`):
    channels-last, bf16 autocast, torch.compile, and the combination the project uses
    on this device (:func:`ddpm_mnist.training.autocast_dtype`);
and each one's ratio to the naive loop. Usage: ``python benchmarks/train_throughput.py [--steps N] [--device D]``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ddpm_mnist.checkpoint import DenoiserSpec
from ddpm_mnist.losses import get_loss, training_pair
from ddpm_mnist.training import autocast_dtype, make_train_step, resolve_device

SPEC = DenoiserSpec("unet", {"channels": (32, 64, 128), "n_convs": 10}, T=15, schedule="linear-noise", loss="x-prev-l2")


def naive_step(model, opt, x0, gen):
    t = torch.randint(1, SPEC.T + 1, (len(x0),), generator=gen, device=x0.device)
    x_t, target = training_pair(SPEC.target, x0, t, SPEC.alpha_bar(), gen)
    loss = get_loss(SPEC.loss)(model(x_t, t), target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def flops_per_step(batch: int, device) -> float:
    model = SPEC.build().to(device)
    opt = torch.optim.AdamW(model.parameters())
    x0 = torch.randn(batch, 1, 28, 28, device=device)
    with FlopCounterMode(display=False) as counter:
        naive_step(model, opt, x0, torch.Generator(device=device).manual_seed(0))
    return counter.get_total_flops()


def images_per_s(step, x0, gen, steps: int, warmup: int, device) -> float:
    for _ in range(warmup):
        step(x0, gen)
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(x0, gen).item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return len(x0) / times[len(times) // 2]  # median step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-bf16", action="store_true", help="skip the bf16 variants (slow on CPUs without bf16)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    x0 = torch.rand(args.batch_size, 1, 28, 28, device=device) * 2 - 1
    flops = flops_per_step(args.batch_size, device)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, batch {args.batch_size}, "
          f"{flops / args.batch_size / 1e6:.0f} MFLOP per image per step (forward + backward)")

    model = SPEC.build().to(device)
    opt = torch.optim.AdamW(model.parameters())
    gen = torch.Generator(device=device).manual_seed(0)
    base = images_per_s(lambda x, g: naive_step(model, opt, x, g), x0, gen, args.steps, 2, device)
    rows = [("naive fp32 loop", base)]

    variants = [("project: channels-last", dict(channels_last=True)), ("project: torch.compile", dict(compile=True))]
    if not args.skip_bf16:
        variants.insert(1, ("project: bf16 autocast + channels-last", dict(channels_last=True, autocast=torch.bfloat16)))
    chosen = autocast_dtype(device)
    variants.append((f"project default on {device.type}: compile" + (f" + {chosen}" if chosen else " (fp32)"),
                     dict(compile=True, autocast=chosen)))
    for name, kw in variants:
        model = SPEC.build().to(device)
        channels_last = kw.pop("channels_last", False)
        data = x0
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            data = x0.contiguous(memory_format=torch.channels_last)
        step = make_train_step(SPEC, model, torch.optim.AdamW(model.parameters()), grad_clip=None, **kw)
        warm = 3 if kw.get("compile") else 2
        t0 = time.perf_counter()
        rate = images_per_s(step, data, torch.Generator(device=device).manual_seed(0), args.steps, warm, device)
        rows.append((name, rate))
        if kw.get("compile"):
            print(f"  ({name}: compiling and warm-up took {time.perf_counter() - t0 - args.steps * len(x0) / rate:.0f} s)")

    print(f"\n{'step':48s} {'images/s':>9s} {'GFLOP/s':>8s} {'ratio':>6s}")
    for name, rate in rows:
        print(f"{name:48s} {rate:9.1f} {rate * flops / args.batch_size / 1e9:8.1f} {rate / base:6.2f}x")


if __name__ == "__main__":
    main()
