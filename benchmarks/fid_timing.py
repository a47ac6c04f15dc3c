"""Time to score 10,000 samples with each FID feature extractor on this machine.

``mnist-cnn`` is timed on the full 10,000 (reference statistics cached beforehand, as in
normal use). ``inception`` is timed on ``--inception-n`` images and extrapolated linearly;
without the real FID weights it runs on randomly initialised weights of the same
architecture (the time does not depend on the weights) and says so.
Usage: ``python benchmarks/fid_timing.py [--inception-n 200]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from ddpm_mnist.eval import metrics
from ddpm_mnist.data import load_mnist_uint8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inception-n", type=int, default=200)
    args = parser.parse_args()
    images = load_mnist_uint8(train=False)[0]
    print(f"{torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")

    metrics.reference_stats("test", "mnist-cnn")  # cached, as in normal use
    t0 = time.perf_counter()
    value = metrics.fid(images, reference="test", features="mnist-cnn")
    print(f"mnist-cnn: 10,000 samples scored in {time.perf_counter() - t0:.2f} s (FID of the test set with itself: {value:.2e})")

    note = "real FID weights"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            metrics.inception_weights_path() or metrics.load_inception(download=False)
        except metrics.InceptionWeightsMissing:
            path = os.path.join(tmp, metrics.INCEPTION_FILE)
            torch.save(metrics.untrained_fid_inception().state_dict(), path)
            os.environ[metrics.ENV_INCEPTION] = path
            note = "random weights of the same architecture (real ones not on this machine)"
        extractor = metrics.get_extractor("inception")
        n = args.inception_n
        extractor.features(images[:8])  # warm-up
        t0 = time.perf_counter()
        extractor.features(images[:n])
        dt = time.perf_counter() - t0
    print(f"inception: {n} images in {dt:.1f} s -> about {dt * 10_000 / n / 60:.1f} min for 10,000 ({note})")


if __name__ == "__main__":
    main()
