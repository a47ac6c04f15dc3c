"""Sampling speed of each sampler of the "fewer steps" chapter, on an otherwise idle machine.

For every configuration of the ``fewer-steps`` study (the ancestral sampler at T = 100 and DDIM
with η = 0 and 1 at 10 to 100 network evaluations) prints the network evaluations, the median
time to draw ``--n`` samples over ``--repeats`` rounds (the samplers interleaved, so a change of
machine load hits all of them alike), samples per second and image-steps per second (samples
times evaluations per second: equal for all samplers when the network dominates).

The network is the study's U-Net with random weights: its speed does not depend on them, and
no checkpoint needs to be present. The chapter's own rates come from the runs, timed on a
machine that was sometimes shared; this script is the clean measurement.

It then compares the project's default sampling path with the naive one on the report's baseline
U-Net ((32, 64, 128), 10 convolutions, T = 15, the ancestral sampler), interleaved:

* naive: eager fp32 under ``torch.no_grad``, NCHW, the whole batch of ``--compare-n`` (500, the
  sampler's batch) through the network at once;
* default: :func:`ddpm_mnist.train.fastpath.sampling_model` for a job of ``--job-image-steps``
  image-steps (default 1,000 samples x T = 1000, the noising-steps study's longest runs, which
  took 48-55 minutes each): channels-last, chunks of 64 images, bf16 autocast where native,
  compiled with frozen weights where the job is large enough (compile time printed, not counted
  in the rate);

and ends with the machine-readable line ``default-sampling-ratio: X.XX`` (image-steps/s of the
default path over the naive one). On a 2-core AMD EPYC with AVX-512 BF16 (no AMX): naive 470
and fp32 default 959 image-steps/s (2.04x); with bf16 autocast, naive 418 and default 1,518
(3.63x). Measured on a 2-core AVX2-only AMD EPYC (torch 2.14.1): see
the closing note of the issue "Training and sampling at the machine's limit" and the docstring
of :mod:`ddpm_mnist.train.fastpath`.

Usage: ``python benchmarks/sampling_rate.py [--n 100] [--repeats 3] [--device auto] [--job-image-steps N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ddpm_mnist.core.sampling import ancestral_sample
from ddpm_mnist.studies.beyond import FEWER_STEPS, TUNED
from ddpm_mnist.studies.runner import draw_samples
from ddpm_mnist.train.device import resolve_device
from ddpm_mnist.train.fastpath import sampling_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="samples per timing (one batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compare-n", type=int, default=500, help="samples per timing of the comparison (the sampler's batch)")
    parser.add_argument("--job-image-steps", type=int, default=1000 * 1000, help="the job the default path prepares for")
    parser.add_argument("--skip-fewer-steps", action="store_true", help="only the naive-against-default comparison")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if not args.skip_fewer_steps:
        fewer_steps(args, device)
    default_against_naive(args, device)


def _timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def default_against_naive(args, device) -> None:
    spec = TUNED.spec
    torch.manual_seed(0)
    naive = spec.build().to(device).eval()
    twin = spec.build().to(device).eval()
    twin.load_state_dict(naive.state_dict())
    t0 = time.perf_counter()
    fast, path = sampling_model(twin, device, args.job_image_steps)
    n = args.compare_n
    draw = {"naive": lambda: _naive_sample(naive, spec, n, device),
            "default": lambda: ancestral_sample(fast, spec.alpha_bar(), spec.target, n, batch_size=n, device=device, progress=False)}
    draw["default"]()  # compiles, when the path compiles
    print(f"\ndefault sampling path for a job of {args.job_image_steps:,} image-steps: {path} "
          f"(prepared and warmed up in {time.perf_counter() - t0:.0f} s)")
    draw["naive"]()
    times = {name: [] for name in draw}
    for _ in range(args.repeats):
        for name, fn in draw.items():
            times[name].append(_timed(fn, device))
    rate = {name: n * spec.T / statistics.median(ts) for name, ts in times.items()}
    for name in draw:
        print(f"{name:<10} {rate[name]:>10.0f} image-steps/s")
    print(f"default-sampling-ratio: {rate['default'] / rate['naive']:.2f}")


def _naive_sample(model, spec, n, device):
    """The textbook loop: the ancestral sampler's arithmetic under ``torch.no_grad``, eager fp32."""
    with torch.no_grad():
        return ancestral_sample.__wrapped__(model, spec.alpha_bar(), spec.target, n, device=device, progress=False,
                                            batch_size=n)


def fewer_steps(args, device) -> None:
    configs = dict(FEWER_STEPS)
    model = next(iter(configs.values())).spec.build().to(device)  # every configuration samples one network
    print(f"{device}, {torch.get_num_threads()} threads; {args.n} samples per timing, median of {args.repeats}")

    draw_samples(next(iter(configs.values())), model, 8, device)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.repeats):
        for name, config in configs.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            draw_samples(config, model, args.n, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)

    print(f"{'sampler':<24} {'evals':>5} {'time (s)':>9} {'samples/s':>10} {'image-steps/s':>14}")
    for name, config in configs.items():
        dt = statistics.median(times[name])
        k = config.evaluations
        print(f"{name:<24} {k:>5} {dt:>9.2f} {args.n / dt:>10.1f} {args.n * k / dt:>14.0f}")


if __name__ == "__main__":
    main()
