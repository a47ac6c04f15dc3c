"""Class-conditional U-Net, guidance, nearest neighbours, Fashion-MNIST and the studies beyond the report."""

import pytest
import torch

from ddpm_mnist.studies import beyond
from ddpm_mnist.core import sampling
from ddpm_mnist.core.spec import DenoiserSpec
from ddpm_mnist.studies.config import RunConfig
from ddpm_mnist.data import DEBIAN_FASHION, ENV_FASHION_DATA, load_mnist_uint8
from ddpm_mnist.eval.memorisation import nearest_neighbours
from ddpm_mnist.core.models import build_model
from ddpm_mnist.studies.profiles import get_profile
from ddpm_mnist.studies.report import STUDIES
from ddpm_mnist.studies.registry import get_study
from ddpm_mnist.train.training import train

COND = DenoiserSpec("unet", {"channels": (8, 16), "n_convs": 3, "num_classes": 10}, T=5, loss="epsilon-l2", schedule="linear-beta")


def test_conditional_unet_uses_labels():
    torch.manual_seed(0)
    model = build_model("unet", T=5, channels=(8, 16), n_convs=3, num_classes=10)
    torch.nn.init.normal_(model.label_emb.weight)
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    a, b = model(x, t, torch.tensor([0, 1, 2, 3])), model(x, t, torch.tensor([4, 5, 6, 7]))
    assert a.shape == x.shape and not torch.allclose(a, b)
    assert torch.equal(model(x, t), model(x, t, torch.full((4,), 10)))  # no label = the "null" class
    with pytest.raises(ValueError, match="integer labels"):
        model(x, t, torch.zeros(4))
    plain = build_model("unet", T=5, channels=(8, 16), n_convs=3)
    with pytest.raises(ValueError, match="unconditional"):
        plain(x, t, torch.zeros(4, dtype=torch.long))


def test_class_labels_rows_and_balance():
    y = sampling.class_labels(1000)
    assert y[:100].reshape(10, 10).T.eq(torch.arange(10)).all()  # row r of the first 100 is digit r
    assert torch.bincount(y).eq(100).all()


def test_guidance_combines_conditional_and_unconditional_outputs():
    torch.manual_seed(0)
    model = build_model("unet", T=5, channels=(8, 16), n_convs=3, num_classes=10).eval()
    torch.nn.init.normal_(model.label_emb.weight)
    x, y = torch.randn(3, 1, 28, 28), torch.tensor([1, 2, 3])
    t = torch.full((3,), 2)
    cond, uncond = model(x, t, y), model(x, t)
    assert torch.allclose(sampling._model_output(model, x, 2, y, 0.0), cond)
    assert torch.allclose(sampling._model_output(model, x, 2, y, 2.0), 3 * cond - 2 * uncond, atol=1e-5)


def test_guidance_interval_guides_only_the_steps_whose_noise_level_lies_in_it():
    ab = DenoiserSpec("unet", {}, T=1000, schedule="cosine-nichol", loss="v-l2").alpha_bar()
    sigma = [sampling.noise_level(ab, t) for t in range(1, 1001)]
    assert all(a < b for a, b in zip(sigma, sigma[1:]))  # the noise level grows with t
    assert sampling.noise_level(ab, 500) == pytest.approx(((1 - ab[500]) / ab[500]).sqrt().item())
    inside = [t for t in range(1, 1001) if sampling.guidance_at(ab, t, 0.5, (0.28, 5.42)) == 0.5]
    outside = [t for t in range(1, 1001) if sampling.guidance_at(ab, t, 0.5, (0.28, 5.42)) == 0.0]
    assert len(inside) + len(outside) == 1000 and inside == list(range(inside[0], inside[-1] + 1))  # one run of steps
    assert sigma[inside[0] - 1] > 0.28 >= sigma[inside[0] - 2] and sigma[inside[-1] - 1] <= 5.42 < sigma[inside[-1]]
    assert all(sampling.guidance_at(ab, t, 0.5) == 0.5 for t in (1, 500, 1000))  # no interval: every step
    dpm = {"steps": 20}
    guided = sum(0.28 < sampling.noise_level(ab, t) <= 5.42 for t in sampling.ddim_timesteps(1000, 20, "quadratic"))
    assert 0 < guided < 20
    assert sampling.network_evaluations("dpm-solver", ab, dpm, 0.5, (0.28, 5.42)) == 20 + guided
    assert sampling.network_evaluations("dpm-solver", ab, dpm, 0.5) == 40 and sampling.network_evaluations("dpm-solver", ab, dpm) == 20
    assert sampling.network_evaluations("ddim", ab, {"steps": 50}) == 50 and sampling.network_evaluations("ancestral", ab) == 1000
    with pytest.raises(ValueError, match="sigma_lo < sigma_hi"):
        sampling.guidance_at(ab, 10, 0.5, (2.0, 1.0))


def test_guidance_interval_saves_the_unconditional_evaluations_outside_it():
    torch.manual_seed(0)
    model = build_model("unet", T=5, channels=(8, 16), n_convs=3, num_classes=10).eval()
    calls = []
    model.register_forward_pre_hook(lambda m, args: calls.append(len(args) > 2 and args[2] is not None))
    ab = COND.alpha_bar()
    kw = dict(n=4, seed=0, steps=5, progress=False, labels=sampling.class_labels(4), guidance=1.0)
    sigmas = sorted(sampling.noise_level(ab, t) for t in range(1, 6))
    interval = (sigmas[1], sigmas[3])  # (lo, hi]: the steps at sigmas[2] and sigmas[3]
    guided = sampling.ddim_sample(model, ab, "eps", guidance_interval=interval, **kw)
    assert calls.count(True) == 5 and calls.count(False) == 2
    calls.clear()
    everywhere = sampling.ddim_sample(model, ab, "eps", guidance_interval=(0.0, sigmas[-1]), **kw)
    assert calls.count(False) == 5 and torch.equal(everywhere, sampling.ddim_sample(model, ab, "eps", **kw))
    assert not torch.equal(guided, everywhere)


def test_conditional_training_and_sampling(mnist512):
    from ddpm_mnist.data import load_mnist

    x, y = load_mnist(train=True, subset=256, seed=0, with_labels=True)
    with pytest.raises(ValueError, match="one label per image"):
        train(COND, x, epochs=1, batch_size=64, progress=False)
    r = train(COND, x, labels=y, epochs=6, batch_size=64, seed=0, progress=False)
    assert sum(r.losses[-4:]) < sum(r.losses[:4])
    ab = COND.alpha_bar()
    kw = dict(n=20, seed=1, batch_size=8, progress=False, labels=sampling.class_labels(20), guidance=1.0)
    a = sampling.ancestral_sample(r.model, ab, "eps", variance="beta", **kw)
    assert a.shape == (20, 1, 28, 28) and torch.equal(a, sampling.ancestral_sample(r.model, ab, "eps", variance="beta", **kw))
    d = sampling.ddim_sample(r.model, ab, "eps", steps=3, **kw)
    assert d.shape == (20, 1, 28, 28) and torch.isfinite(d).all()


def test_nearest_neighbours_match_brute_force():
    images, _ = load_mnist_uint8(train=False)
    ref, queries = images[:500], torch.cat([images[500:520], images[:5]])
    d, i = nearest_neighbours(queries, ref, k=3, batch_size=7)
    brute = torch.cdist(queries.flatten(1).double() / 255, ref.flatten(1).double() / 255)
    bd, bi = brute.topk(3, largest=False)
    assert torch.allclose(d.double(), bd, atol=1e-3) and torch.equal(i[:, 0], bi[:, 0])
    assert torch.equal(i[-5:, 0], torch.arange(5)) and d[-5:, 0].max() < 1e-3  # an image is its own nearest neighbour
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(queries, ref[:2], k=3)


@pytest.mark.skipif(not (DEBIAN_FASHION.is_dir() or __import__("os").environ.get(ENV_FASHION_DATA)),
                    reason="Fashion-MNIST absent: apt-get install dataset-fashion-mnist (.ci/run does)")
def test_fashion_mnist_loads_and_differs_from_mnist():
    fx, fy = load_mnist_uint8(train=False, dataset="fashion-mnist")
    mx, _ = load_mnist_uint8(train=False)
    assert fx.shape == (10_000, 1, 28, 28) and fx.dtype == torch.uint8 and set(fy.tolist()) == set(range(10))
    assert fx.float().mean() > mx.float().mean() + 20  # clothes cover more of the frame than digits


def test_unknown_dataset_lists_valid_ones():
    with pytest.raises(ValueError, match="valid datasets: mnist, fashion-mnist"):
        load_mnist_uint8(dataset="cifar")
    with pytest.raises(ValueError, match="valid datasets"):
        RunConfig(dataset="cifar")
    with pytest.raises(ValueError, match="class-conditional"):
        RunConfig(guidance=1.0)


def test_beyond_studies_build_distinct_valid_configs():
    cpu = get_profile("cpu")
    for name, st in beyond.BEYOND.items():
        assert get_study(name) is st and name not in STUDIES
        configs = [cpu.study_config(st, v) for v in st.values]  # the profile's protocol, except in the field a study varies
        if st.param != "epochs":
            assert len({c.hash() for c in configs}) == len(configs), name
    # the ε fixes reuse the loss study's runs; the DDIM variants share one trained network
    loss = STUDIES["loss"]
    assert beyond.BEYOND["eps-fixes"].config_for("epsilon-l2 (report)").hash() == loss.config_for("epsilon-l2").hash()
    assert len({c.train_hash() for c in beyond.FEWER_STEPS.values()}) == 1
    assert len({beyond.BEYOND["guidance"].config_for(w).train_hash() for w in beyond.GUIDANCE_SCALES}) == 1
    with pytest.raises(ValueError, match="valid studies"):
        get_study("nope")


def test_cli_trains_conditional_unet_and_samples_with_guidance(tmp_path):
    import subprocess
    import sys

    import numpy as np

    cli = [sys.executable, "-m", "ddpm_mnist.cli"]
    subprocess.run([*cli, "train", "--model", "unet", "--channels", "8", "16", "--n-convs", "3", "--T", "5", "--num-classes", "10",
                    "--loss", "v-l2", "--epochs", "1", "--subset", "64", "--batch-size", "32", "--out", str(tmp_path / "run"), "--quiet"],
                   check=True, capture_output=True)
    out = tmp_path / "s.npy"
    subprocess.run([*cli, "sample", str(tmp_path / "run" / "checkpoint.pt"), "-n", "20", "--guidance", "2", "--variance", "beta",
                    "--out", str(out), "--quiet"], check=True, capture_output=True)
    assert np.load(out).shape == (20, 28, 28)
    bad = subprocess.run([*cli, "train", "--model", "unet", "--dataset", "cifar", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode != 0 and "fashion-mnist" in bad.stderr
