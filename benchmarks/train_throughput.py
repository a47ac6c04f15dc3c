"""Training throughput of the report's baseline U-Net ((32, 64, 128), 10 convolutions, batch 256).

Prints images/s (median step, the variants interleaved) and GFLOP/s of one optimisation step for
  * the naive loop: eager fp32, NCHW, whole batches, foreach AdamW (``zero_grad / backward / step``);
  * single changes of :class:`ddpm_mnist.train.fastpath.TrainPath`: channels-last, micro-batches
    of 64, fused AdamW, bf16 autocast (where oneDNN has native bf16, or with ``--bf16``),
    ``torch.compile`` (with ``--compile``: a minute of compiling each);
  * "train default": what :func:`ddpm_mnist.train.training.train` does on this device for a
    3-epoch run (:func:`ddpm_mnist.train.fastpath.default_train_path`, compiled where the cached
    probe of :mod:`ddpm_mnist.train.compile_probe` says it pays; the first run measures it);
then a measured ceiling: every convolution and linear layer of the network timed alone (forward
and backward, at the default path's micro-batch, memory format and precision, and in fp32), summed:
the images/s the step would reach if nothing but those layers ran, and the default step's share
of it. The last line is machine-readable: ``default-step-ratio: X.XX`` (train default over naive).

Tried on a 2-core AVX2-only AMD EPYC (torch 2.14.1, fp32; ratios to the naive loop, each from one
run, which drifts by 5-10 % between runs): channels-last 0.96-1.09x; micro-batches of 128 1.13x, of
64 1.00-1.20x, of 32 1.14x (the activations of a whole batch, 25-50 MB a layer, do not fit in the
caches; GroupNorm acts per image so the gradients are the same); fused AdamW 1.00-1.05x;
torch.compile 0.98x, with channels-last 0.95x (no gain, a minute of compiling); bf16 autocast is
emulated there and about 10x slower. The layers alone (the ceiling below) run at about 160
images/s against about 130 for the naive step: in fp32 this step is bound by its convolutions.
On an Intel AMX / AVX-512-BF16 machine (issue 25): channels-last 1.17x, bf16 + channels-last
1.72x, compile + bf16 2.39x. On a 2-core AMD EPYC with AVX-512 BF16 but no AMX (two runs of
this script, naive loop 222 and 294 images/s): channels-last 1.24x / 1.06x, micro-batches of 64
1.25x / 1.01x, fused AdamW 0.96x / 0.99x, bf16 + channels-last 1.63x / 1.28x, torch.compile
(fp32) 1.03x, with channels-last 0.99x; train default (bf16, channels-last, micro-batches, fused
AdamW, eager) 1.53x / 1.24x: native bf16 without AMX gives far less than AMX's tiles. A third
run there, with the machine idle and the compile probe choosing compile: naive 303 images/s, bf16 +
channels-last 1.41x, train default (compiled) 1.77x, and the ceiling of its convolutions and
linear layers alone at bf16 732 images/s, 2.42x the naive loop: on that CPU kind the 2.5x floor of
issue 25 lies above what the layers alone allow, as 1.3x does on the AVX2 machine.

Usage: ``python benchmarks/train_throughput.py [--steps N] [--device D] [--compile] [--bf16]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ddpm_mnist.core.spec import DenoiserSpec
from ddpm_mnist.core.losses import get_loss, training_pair
from ddpm_mnist.train.compile_probe import compile_pays, compile_timings, probe_file, probe_key
from ddpm_mnist.train.device import autocast_dtype, resolve_device
from ddpm_mnist.train.fastpath import NAIVE, TrainPath, default_train_path
from ddpm_mnist.train.step import make_train_step

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
    out = step(x0, gen)
    if out is not None:
        out.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def layer_ceiling(path: TrainPath, batch: int, device, repeats: int = 5) -> float:
    """Seconds per optimisation step spent in the network's convolutions and linear layers
    alone (forward and backward, each timed in isolation, median of ``repeats``), at the
    micro-batch, memory format and precision of ``path``."""
    model = SPEC.build().to(device)
    if path.channels_last:
        model = model.to(memory_format=torch.channels_last)
    chunk = path.micro_batch or batch
    captured = []
    hooks = [m.register_forward_hook(lambda m, i, o: captured.append((m, i[0].detach())))
             for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))]
    x = torch.randn(chunk, 1, 28, 28, device=device)
    with torch.no_grad():
        model(x.contiguous(memory_format=torch.channels_last) if path.channels_last else x, torch.full((chunk,), 3, device=device))
    for h in hooks:
        h.remove()
    total = 0.0
    for layer, inp in captured:
        inp = inp.clone().requires_grad_(True)

        def once():
            with torch.autocast(device.type, dtype=path.autocast) if path.autocast else torch.autocast(device.type, enabled=False):
                out = layer(inp)
            out.backward(torch.ones_like(out))

        once()
        total += sorted(time_step(lambda *_: once(), None, None, device) for _ in range(repeats))[repeats // 2]
    return total * batch / chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", action="store_true", help="time bf16 autocast even where it is emulated (about 10x slower)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (a minute of compiling each)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    x0 = torch.rand(args.batch_size, 1, 28, 28, device=device) * 2 - 1
    flops = flops_per_step(args.batch_size, device)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, batch {args.batch_size}, "
          f"{flops / args.batch_size / 1e6:.0f} MFLOP per image per step (forward + backward)")

    default = default_train_path(device)
    if device.type == "cpu":  # what train decides for a 3-epoch run: the cached compile probe of this machine
        def make_step(path):
            net = SPEC.build().to(device)
            net = net.to(memory_format=torch.channels_last) if path.channels_last else net
            opt = torch.optim.AdamW(net.parameters(), **({"fused": True} if path.fused_adamw else {}))
            return make_train_step(SPEC, net, opt, path=path)

        timings = compile_timings(probe_key(SPEC.to_dict(), default, args.batch_size, device), make_step, default, x0, device)
        run_steps = 3 * 60_000 // args.batch_size
        default = dataclasses.replace(default, compile=compile_pays(timings, run_steps))
        print(f"  compile probe (cached in {probe_file()}): eager {timings['eager_s']:.3f} s/step, compiled "
              f"{timings['compiled_s']:.3f} s/step, compiling {timings['compile_s']:.0f} s: "
              f"{'compile' if default.compile else 'eager'} for a {run_steps}-step run")
    settings = [("channels-last", TrainPath(channels_last=True)), ("micro-batches of 64", TrainPath(micro_batch=64)),
                ("fused AdamW", TrainPath(fused_adamw=True))]
    native_bf16 = autocast_dtype(device) is not None
    if native_bf16 or args.bf16:
        settings.append(("bf16 autocast + channels-last", TrainPath(channels_last=True, autocast=torch.bfloat16)))
    if args.compile:
        settings.append(("torch.compile", TrainPath(compile=True)))
        settings.append(("torch.compile + channels-last", TrainPath(channels_last=True, compile=True)))
        if native_bf16 or args.bf16:
            settings.append(("torch.compile + bf16 + channels-last", TrainPath(channels_last=True, autocast=torch.bfloat16,
                                                                            compile=True)))
    settings.append((f"train default: {_describe(default)}", default))
    model = SPEC.build().to(device)
    opt = torch.optim.AdamW(model.parameters())
    variants = [("naive fp32 loop", lambda x, g, m=model, o=opt: naive_step(m, o, x, g), x0)]
    for name, path in settings:
        torch.manual_seed(0)
        model = SPEC.build().to(device)
        data = x0
        if path.channels_last:
            model = model.to(memory_format=torch.channels_last)
            data = x0.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), **({"fused": True} if path.fused_adamw else {}))
        variants.append((name, make_train_step(SPEC, model, opt, path=path, grad_clip=None), data))

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

    print(f"\n{'step':60s} {'images/s':>9s} {'GFLOP/s':>8s} {'ratio':>6s}")
    for name, rate in rows:
        print(f"{name:60s} {rate:9.1f} {rate * flops / args.batch_size / 1e9:8.1f} {rate / base:6.2f}x")
    default_rate = rows[-1][1]
    for label, path in (("the default path's", default), ("fp32, NCHW, whole batches", NAIVE)):
        seconds = layer_ceiling(path, args.batch_size, device)
        ceiling = args.batch_size / seconds
        print(f"ceiling ({label} convolutions and linear layers alone): {ceiling:9.1f} images/s, "
              f"{ceiling * flops / args.batch_size / 1e9:.1f} GFLOP/s; the default step reaches {default_rate / ceiling:.0%} of it")
    print(f"default-step-ratio: {default_rate / base:.2f}")


def _describe(path: TrainPath) -> str:
    parts = ["channels-last" if path.channels_last else "NCHW", str(path.autocast).removeprefix("torch.") if path.autocast else "fp32"]
    parts += ["compiled"] * path.compile + ["fused AdamW"] * path.fused_adamw
    parts += [f"micro-batches of {path.micro_batch}"] if path.micro_batch else []
    return ", ".join(parts)


if __name__ == "__main__":
    main()
