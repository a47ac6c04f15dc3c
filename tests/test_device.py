"""The device-specific paths, on the device ``$DDPM_TEST_DEVICE`` names (default ``cpu``).

``scripts/gpu_check.sh`` runs this file with ``DDPM_TEST_DEVICE=cuda`` on a GPU machine; in the
ordinary suite it runs on the CPU (the compile test only where ``torch.compile`` is the
default, i.e. on CUDA, or with ``DDPM_TEST_COMPILE=1``).
"""

import os

import pytest
import torch

from ddpm_mnist.core.sampling import sample
from ddpm_mnist.core.spec import DenoiserSpec
from ddpm_mnist.train.device import autocast_dtype, resolve_device
from ddpm_mnist.train.fastpath import NAIVE, TrainPath, default_train_path, sampling_model
from ddpm_mnist.train.training import train

DEVICE = resolve_device(os.environ.get("DDPM_TEST_DEVICE", "cpu"))
TINY = DenoiserSpec("unet", {"channels": (8, 16), "n_convs": 3}, T=10, schedule="linear-beta", loss="x0-l2")


@pytest.fixture(scope="module")
def images():
    return torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("name, options", [("ancestral", {"variance": "beta"}), ("ddim", {"steps": 5, "eta": 0.0})])
def test_samplers_are_seeded_on_the_device(name, options):
    torch.manual_seed(0)
    model, _ = sampling_model(TINY.build(), DEVICE)
    a = sample(name, model, TINY.alpha_bar(), TINY.target, 20, options=options, seed=1, device=DEVICE, progress=False)
    b = sample(name, model, TINY.alpha_bar(), TINY.target, 20, options=options, seed=1, device=DEVICE, progress=False)
    assert a.shape == (20, 1, 28, 28) and a.device.type == "cpu" and torch.equal(a, b) and torch.isfinite(a).all()


def test_default_training_path_learns_on_the_device(images):
    result = train(TINY, images, epochs=4, batch_size=64, lr=2e-3, seed=0, device=DEVICE, progress=False)
    default = default_train_path(DEVICE).describe()
    if default["autocast"] and DEVICE.type == "cpu":  # the layout is measured there (fastpath.faster_layout)
        probe = result.numerics["layout_probe"]
        assert result.numerics["channels_last"] == (probe["channels_last"] < probe["nchw"])
        default["channels_last"] = result.numerics["channels_last"]
    assert result.numerics == {**default, **result.numerics}
    assert sum(result.losses[-4:]) < sum(result.losses[:4])


@pytest.mark.skipif(autocast_dtype(DEVICE) is None, reason=f"no native bf16 on {DEVICE} here")
def test_bf16_on_the_device_stays_close_to_fp32(images):
    kw = dict(epochs=1, batch_size=64, lr=1e-3, seed=0, device=DEVICE, progress=False)
    bf16 = train(TINY, images, path=TrainPath(channels_last=True, autocast=torch.bfloat16), **kw)
    fp32 = train(TINY, images, path=NAIVE, **kw)
    assert torch.allclose(torch.tensor(bf16.losses), torch.tensor(fp32.losses), rtol=0.02)


@pytest.mark.skipif(DEVICE.type != "cuda" and os.environ.get("DDPM_TEST_COMPILE") != "1",
                    reason="torch.compile is the default on CUDA only; DDPM_TEST_COMPILE=1 tests it here")
def test_compiled_training_matches_eager(images):
    kw = dict(epochs=1, batch_size=64, lr=1e-3, seed=0, device=DEVICE, progress=False)
    compiled = train(TINY, images, path=TrainPath(compile=True), **kw)
    eager = train(TINY, images, path=NAIVE, **kw)
    assert torch.allclose(torch.tensor(compiled.losses), torch.tensor(eager.losses), rtol=1e-3)


@pytest.mark.slow
def test_gpu_check_script_runs_dry_on_the_cpu(tmp_path):
    """``scripts/gpu_check.sh --dry-run``: the GPU machine's script, every step, on this CPU at smoke size."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "GPU_CHECK_OUT": str(tmp_path / "out")}
    env.pop("DDPM_PROFILE", None)
    env.pop("DDPM_RESULTS_DIR", None)
    with open(tmp_path / "console.txt", "w") as console:  # a file, not a pipe: nothing waits for the script's children
        code = subprocess.run([str(root / "scripts" / "gpu_check.sh"), "--dry-run"], cwd=root, env=env, stdout=console,
                              stderr=subprocess.STDOUT, timeout=600).returncode
    assert code == 0, (tmp_path / "console.txt").read_text()[-3000:]
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "passed" in log and "images/s over 512 images" in log and "chapter executed" in log
    assert (tmp_path / "out" / "normalization.ipynb").exists()
