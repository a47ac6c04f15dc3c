"""The fast numerical paths compute what the naive ones do, up to float rounding."""

import json
import time

import pytest
import torch

from ddpm_mnist.core.sampling import ancestral_sample, ddim_sample
from ddpm_mnist.core.spec import DenoiserSpec
from ddpm_mnist.train.device import autocast_dtype
from ddpm_mnist.train.fastpath import (
    COMPILE_SAMPLING_MIN_IMAGE_STEPS, NAIVE, Chunked, TrainPath, default_train_path, faster_layout, sampling_model,
)
from ddpm_mnist.train.step import make_train_step
from ddpm_mnist.train.training import train

TINY = DenoiserSpec("unet", {"channels": (8, 16), "n_convs": 3}, T=10, schedule="linear-beta", loss="x0-l2")


def _weights(model):
    return torch.cat([p.detach().float().flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def images():
    return torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_default_cpu_path_is_fused_and_chunked_and_channels_last_under_bf16():
    path = default_train_path(torch.device("cpu"))
    assert path.fused_adamw and path.micro_batch == 64 and not path.compile
    assert path.autocast == autocast_dtype(torch.device("cpu")) and path.channels_last == (path.autocast is not None)
    assert default_train_path(torch.device("cpu"), amp=False, compile=True) == TrainPath(False, None, True, True, 64)
    assert default_train_path(torch.device("cpu"), amp=True) == TrainPath(True, torch.bfloat16, False, True, 64)
    assert path.describe()["autocast"] in (None, "bfloat16")


def test_fp32_fast_training_matches_the_naive_loop(images):
    """Channels-last, micro-batches of 64 and fused AdamW against whole NCHW batches with foreach
    AdamW: one step's gradients agree to float rounding (1e-5 relative to their scale), four
    steps' losses to 1e-5, and the weights within Adam's own sensitivity to rounding: an update
    is about lr per step whatever the gradient's size, so a rounding that flips a near-zero
    gradient moves a weight by up to 2 lr per step (here 2 x 1e-3 x 4)."""
    fast_path = TrainPath(channels_last=True, fused_adamw=True, micro_batch=64)
    grads = []
    for path in (fast_path, NAIVE):
        torch.manual_seed(0)
        model = TINY.build().to(memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
        step = make_train_step(TINY, model, torch.optim.SGD(model.parameters(), lr=0.0), path=path, grad_clip=None)
        step(images[:128], torch.Generator().manual_seed(1))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5 * grads[1].abs().max().item())

    kw = dict(epochs=2, batch_size=128, lr=1e-3, seed=0, device="cpu", progress=False)
    fast, naive = train(TINY, images, path=fast_path, **kw), train(TINY, images, path=NAIVE, **kw)
    assert fast.steps == naive.steps == 4
    assert torch.allclose(torch.tensor(fast.losses), torch.tensor(naive.losses), rtol=1e-5)
    assert (_weights(fast.model) - _weights(naive.model)).abs().max() <= 2 * 1e-3 * 4
    assert fast.numerics["micro_batch"] == 64 and fast.numerics["autocast"] is None and "cpu_capability" in fast.numerics


@pytest.mark.skipif(autocast_dtype(torch.device("cpu")) is None, reason="this CPU has no native bf16 (AVX2-only)")
def test_bf16_training_stays_close_to_fp32(images):
    """Where the default path trains under bf16 autocast: the losses of four steps within 2%."""
    kw = dict(epochs=2, batch_size=128, lr=1e-3, seed=0, device="cpu", progress=False)
    bf16 = train(TINY, images, path=TrainPath(channels_last=True, autocast=torch.bfloat16), **kw)
    fp32 = train(TINY, images, path=NAIVE, **kw)
    assert torch.allclose(torch.tensor(bf16.losses), torch.tensor(fp32.losses), rtol=0.02)


def test_chunked_network_equals_the_whole_batch():
    torch.manual_seed(0)
    model = TINY.build().eval()
    x, t = torch.randn(10, 1, 28, 28), torch.arange(10) % 10 + 1
    with torch.inference_mode():
        whole = model(x, t)
        for pad in (False, True):
            assert torch.allclose(Chunked(model, 4, pad=pad)(x, t), whole, atol=1e-6)


@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_fast_sampling_gives_the_same_samples(sampler):
    torch.manual_seed(0)
    model = TINY.build().eval()
    twin = TINY.build().eval()
    twin.load_state_dict(model.state_dict())
    fast, path = sampling_model(twin, "cpu", image_steps=1000, amp=False)
    assert path == {"precision": "float32", "channels_last": True, "compile": False, "chunk": 64}
    draw = ancestral_sample if sampler == "ancestral" else ddim_sample
    a = draw(model, TINY.alpha_bar(), TINY.target, 150, seed=3, progress=False)
    b = draw(fast, TINY.alpha_bar(), TINY.target, 150, seed=3, progress=False)
    assert torch.allclose(a, b, atol=1e-5)


def test_faster_layout_picks_the_quicker_run_and_reports_both():
    calls = []

    def run(channels_last: bool) -> None:
        calls.append(channels_last)
        time.sleep(0.03 if channels_last else 0.001)

    assert faster_layout(run, repeats=2) == (False, {"nchw": pytest.approx(0.001, abs=0.02), "channels_last": pytest.approx(0.03, abs=0.02)})
    assert calls == [False] * 3 + [True] * 3  # one warm-up and two timed calls each
    assert faster_layout(lambda cl: time.sleep(0.001 if cl else 0.03))[0] is True


def test_a_keyed_layout_is_measured_once_per_machine(tmp_path, monkeypatch):
    """Timings are noisy and under bf16 the layout changes the rounding: the same work must take
    the same layout every time on one machine, so a keyed measurement is kept and read back."""
    from ddpm_mnist.train.measured import machine_key, probe_file

    monkeypatch.setenv("DDPM_MNIST_CACHE", str(tmp_path))
    calls = []

    def run(channels_last: bool) -> None:
        calls.append(channels_last)
        time.sleep(0.001 if channels_last else 0.02)

    key = machine_key({"work": "test"})
    first = faster_layout(run, repeats=1, key=key)
    assert first[0] is True and len(calls) == 4 and set(json.loads(probe_file("layout").read_text())) == {key}
    assert faster_layout(lambda cl: time.sleep(0.02 if cl else 0.001), key=key) == first  # read back, not re-timed
    faster_layout(run, repeats=1, key=machine_key({"work": "other"}))  # other work: measured
    assert len(calls) == 8 and len(json.loads(probe_file("layout").read_text())) == 2
    assert machine_key({"work": "test"}) == key != machine_key({"work": "test", "batch": 2})


def test_bf16_sampling_stays_close_to_fp32():
    """Under bf16 autocast (the default where native; forced here) the samples of a T = 10
    chain differ from fp32's by bf16 rounding only: a mean pixel difference under 1% of the range."""
    torch.manual_seed(0)
    model = TINY.build().eval()
    twin = TINY.build().eval()
    twin.load_state_dict(model.state_dict())
    fast, path = sampling_model(twin, "cpu", image_steps=1000, amp=True)
    assert path["precision"] == "bfloat16"
    probe = path["layout_probe"]  # under bf16 the layout is measured
    assert path["channels_last"] == (probe["channels_last"] < probe["nchw"])
    a = ddim_sample(model, TINY.alpha_bar(), TINY.target, 64, seed=3, progress=False)
    b = ddim_sample(fast, TINY.alpha_bar(), TINY.target, 64, seed=3, progress=False)
    assert b.dtype == torch.float32 and (a - b).abs().mean() < 0.02 and not torch.equal(a, b)


@pytest.mark.slow
def test_compiled_sampling_gives_the_same_samples():
    """With enough work the sampling network is compiled (inductor, frozen weights)."""
    torch.manual_seed(0)
    model = TINY.build().eval()
    twin = TINY.build().eval()
    twin.load_state_dict(model.state_dict())
    fast, path = sampling_model(twin, "cpu", image_steps=COMPILE_SAMPLING_MIN_IMAGE_STEPS, amp=False)
    assert path["compile"]
    a = ancestral_sample(model, TINY.alpha_bar(), TINY.target, 70, seed=1, progress=False)
    b = ancestral_sample(fast, TINY.alpha_bar(), TINY.target, 70, seed=1, progress=False)
    assert torch.allclose(a, b, atol=1e-3)
