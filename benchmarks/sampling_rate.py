"""Sampling speed of each sampler of the "fewer steps" chapter, on an otherwise idle machine.

For every configuration of the ``fewer-steps`` study (the ancestral sampler at T = 100 and DDIM
with η = 0 and 1 at 10 to 100 network evaluations) prints the network evaluations, the median
time to draw ``--n`` samples over ``--repeats`` rounds (the samplers interleaved, so a change of
machine load hits all of them alike), samples per second and image-steps per second (samples
times evaluations per second: equal for all samplers when the network dominates).

The network is the study's U-Net with random weights: its speed does not depend on them, and
no checkpoint needs to be present. The chapter's own rates come from the runs, timed on a
machine that was sometimes shared; this script is the clean measurement.
Usage: ``python benchmarks/sampling_rate.py [--n 100] [--repeats 3] [--device auto]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ddpm_mnist.studies.beyond import FEWER_STEPS
from ddpm_mnist.studies.runner import draw_samples
from ddpm_mnist.train.device import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="samples per timing (one batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
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
