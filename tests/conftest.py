import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _environment(tmp_path_factory):
    """Point the data root at the shared MNIST copy (unless set) and the cache at a temp dir."""
    if not os.environ.get("DDPM_MNIST_DATA") and SHARED_DATA.exists():
        os.environ["DDPM_MNIST_DATA"] = str(SHARED_DATA)
    if not os.environ.get("DDPM_MNIST_CACHE"):
        os.environ["DDPM_MNIST_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield


@pytest.fixture(scope="session")
def mnist512():
    from ddpm_mnist.data import load_mnist

    return load_mnist(train=True, value_range="[-1,1]", subset=512, seed=0)
