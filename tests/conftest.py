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


@pytest.fixture()
def lock_holder():
    """``hold(path)``: another process takes :func:`ddpm_mnist.io.exclusive` on ``path`` and keeps
    it until the returned process is killed (every one is killed at the end of the test)."""
    import subprocess
    import sys

    procs = []

    def hold(path):
        code = ("import sys, time\nfrom ddpm_mnist.io import exclusive\n"
                "with exclusive(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n")
        p = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "held"
        return p

    yield hold
    for p in procs:
        p.kill()
        p.wait()
