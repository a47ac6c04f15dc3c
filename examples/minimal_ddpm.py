"""A DDPM on MNIST in one screen, with the library's two lowest layers: ``core`` and ``train``.

    python examples/minimal_ddpm.py                       # about 2 minutes on 2 CPU cores
    python examples/minimal_ddpm.py --images 256 --steps 5 --samples 8   # seconds (the test suite)
"""

import argparse

from ddpm_mnist.core.ranges import to_uint8
from ddpm_mnist.core.sampling import ancestral_sample
from ddpm_mnist.core.spec import DenoiserSpec
from ddpm_mnist.data import load_mnist
from ddpm_mnist.train.training import train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--images", type=int, default=60_000, help="training images (a seeded random subset)")
parser.add_argument("--steps", type=int, default=500, help="optimiser steps")
parser.add_argument("--samples", type=int, default=16)
args = parser.parse_args()

# What the network is: a small U-Net predicting x0 (Ho et al.'s linear beta schedule, T = 100).
spec = DenoiserSpec("unet", {"channels": (16, 32), "n_convs": 4}, T=100, schedule="linear-beta", loss="x0-l2",
                    value_range="[-1,1]")
images = load_mnist(train=True, value_range=spec.value_range, subset=args.images, seed=0)  # (N, 1, 28, 28) in [-1, 1]

# Ho et al. (2020), Algorithm 1, repeated: AdamW on the x0 loss, batches of 128.
batch_size = min(128, len(images))
result = train(spec, images, epochs=args.steps / (len(images) // batch_size), batch_size=batch_size, lr=2e-3, seed=0,
               progress=False)
print(f"trained {result.steps} steps on {len(images):,} images in {result.wall_time_s:.0f} s; "
      f"loss {sum(result.losses[:10]) / 10:.3f} -> {sum(result.losses[-10:]) / 10:.3f}")

# Algorithm 2: the ancestral sampler with Ho et al.'s variance sigma_t^2 = beta_t.
x = ancestral_sample(result.model, spec.alpha_bar(), spec.target, args.samples, variance="beta", seed=0, progress=False)
digits = to_uint8(x, spec.value_range)[:, 0]  # (n, 28, 28) uint8
for row in digits[:2]:  # the first two samples, as ASCII art
    print("\n".join("".join(" .:-=+*#%@"[int(v) * 10 // 256] for v in line[::2]) for line in row[::2]), end="\n\n")
print(f"{len(digits)} samples, mean pixel {digits.float().mean():.1f} / 255")
