"""Training throughput of the report's baseline U-Net ((32, 64, 128), 10 convolutions, batch 256).

Prints images/s (median step, the variants interleaved) and GFLOP/s of one optimisation step for
  * the naive loop: eager fp32, the textbook ``zero_grad / backward / step``;
  * each variant of the project's step (:func:`ddpm_mnist.train.training.make_train_step`):
    channels-last, bf16 autocast, torch.compile, and the combination the project uses
    on this device (:func:`ddpm_mnist.train.device.autocast_dtype`);
and each one's ratio to the naive loop. Usage: ``python benchmarks/train_throughput.py [--steps N] [--device D]``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ddpm_mnist.core.spec import DenoiserSpec
from ddpm_mnist.core.losses import get_loss, training_pair
from ddpm_mnist.train.device import autocast_dtype, resolve_device
from ddpm_mnist.train.training import make_train_step

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


def time_step(step, x0, gen, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    step(x0, gen).item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


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
    variants = [("naive fp32 loop", lambda x, g, m=model, o=opt: naive_step(m, o, x, g), x0)]
    settings = [("project: channels-last", dict(channels_last=True)), ("project: torch.compile", dict(compile=True)),
                ("project: torch.compile + channels-last", dict(compile=True, channels_last=True))]
    if not args.skip_bf16:
        settings.insert(1, ("project: bf16 autocast + channels-last", dict(channels_last=True, autocast=torch.bfloat16)))
    chosen = autocast_dtype(device)
    settings.append((f"project default on {device.type}: compile" + (f" + {chosen}" if chosen else " (fp32)"),
                     dict(compile=True, autocast=chosen)))
    for name, kw in settings:
        model = SPEC.build().to(device)
        channels_last = kw.pop("channels_last", False)
        data = x0
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            data = x0.contiguous(memory_format=torch.channels_last)
        variants.append((name, make_train_step(SPEC, model, torch.optim.AdamW(model.parameters()), grad_clip=None, **kw), data))

    gens = [torch.Generator(device=device).manual_seed(0) for _ in variants]
    for (name, step, data), gen in zip(variants, gens):  # warm-up, compilation included
        t0 = time.perf_counter()
        for _ in range(3):
            step(data, gen)
        print(f"  warm-up of {name}: {time.perf_counter() - t0:.0f} s")
    # interleave the variants, so that drifts in the machine's speed hit them alike
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for _ in range(args.steps):
        for (name, step, data), gen in zip(variants, gens):
            times[name].append(time_step(step, data, gen, device))
    rows = [(name, len(x0) / sorted(ts)[len(ts) // 2]) for name, ts in times.items()]
    base = rows[0][1]

    print(f"\n{'step':48s} {'images/s':>9s} {'GFLOP/s':>8s} {'ratio':>6s}")
    for name, rate in rows:
        print(f"{name:48s} {rate:9.1f} {rate * flops / args.batch_size / 1e9:8.1f} {rate / base:6.2f}x")


if __name__ == "__main__":
    main()
