import json
import pytest
import torch

from ddpm_mnist.train import checkpoint as ckpt
from ddpm_mnist.train.checkpoint import CheckpointError
from ddpm_mnist.core.spec import DenoiserSpec
from ddpm_mnist.train.budget import planned_steps
from ddpm_mnist.train.training import train

TINY = DenoiserSpec("unet", {"channels": (8, 16, 32), "n_convs": 5}, T=15, schedule="linear-noise", loss="x-prev-l2")


@pytest.mark.slow
def test_tiny_unet_loss_falls(mnist512):
    result = train(TINY, mnist512, epochs=6, batch_size=64, lr=2e-3, seed=0, progress=False)
    assert result.steps == 48 and result.images_seen == 48 * 64
    first, last = sum(result.losses[:8]) / 8, sum(result.losses[-8:]) / 8
    assert last < 0.6 * first, (first, last)


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_equals_uninterrupted(tmp_path, mnist512):
    data = mnist512[:128]
    kw = dict(epochs=3, batch_size=32, seed=5, ema_decay=0.9, progress=False, checkpoint_every=5)
    full = train(TINY, data, **kw)
    path = tmp_path / "ck.pt"
    part = train(TINY, data, checkpoint_path=path, stop_after=7, **kw)  # interrupted mid-epoch 2
    assert part.steps == 7
    resumed = train(TINY, data, checkpoint_path=path, **kw)
    assert resumed.resumed_from_step == 7 and resumed.steps == 12
    assert resumed.losses == full.losses
    assert _same_weights(resumed.model, full.model) and _same_weights(resumed.ema_model, full.ema_model)


def test_checkpoint_counts_the_steps_of_each_precision(tmp_path, mnist512):
    data = mnist512[:128]
    kw = dict(epochs=2, batch_size=32, seed=1, progress=False, checkpoint_path=tmp_path / "ck.pt")
    train(TINY, data, amp=False, stop_after=3, **kw)
    assert ckpt.read(tmp_path / "ck.pt")["precision_steps"] == {"float32": 3}
    train(TINY, data, amp=True, stop_after=5, **kw)  # resumed on a machine that trains under bf16 autocast
    assert ckpt.read(tmp_path / "ck.pt")["precision_steps"] == {"float32": 3, "bfloat16": 2}
    state = ckpt.read(tmp_path / "ck.pt")
    del state["precision_steps"]  # a checkpoint written before the count existed
    torch.save(state, tmp_path / "ck.pt")
    train(TINY, data, amp=False, **kw)
    assert ckpt.read(tmp_path / "ck.pt")["precision_steps"] == {"unrecorded": 5, "float32": 3}


def test_extend_shorter_run_equals_longer_run(tmp_path, mnist512):
    data = mnist512[:128]
    kw = dict(batch_size=32, seed=3, progress=False)
    full = train(TINY, data, epochs=3, **kw)
    short = tmp_path / "short.pt"
    train(TINY, data, epochs=1, checkpoint_path=short, **kw)
    longer = train(TINY, data, epochs=3, checkpoint_path=tmp_path / "long.pt", extend=short, **kw)
    assert longer.resumed_from_step == longer.extended_from_step == 4
    assert longer.losses == full.losses and _same_weights(longer.model, full.model)
    again = train(TINY, data, epochs=3, checkpoint_path=tmp_path / "long.pt", **kw)  # its own checkpoint remembers the origin
    assert again.extended_from_step == 4 and again.steps == 12
    same = train(TINY, data, epochs=1.1, checkpoint_path=tmp_path / "same.pt", extend=short, **kw)  # 4 steps too: nothing to do
    assert same.steps == 4 and (tmp_path / "same.pt").exists() and ckpt.read(tmp_path / "same.pt")["step"] == 4
    with pytest.raises(ValueError, match="more than"):
        train(TINY, data, epochs=0.5, checkpoint_path=tmp_path / "x.pt", extend=short, **kw)
    with pytest.raises(CheckpointError, match="another configuration"):
        train(TINY, data, epochs=3, lr=0.1, checkpoint_path=tmp_path / "y.pt", extend=short, **kw)


def test_keep_epochs_and_load(tmp_path, mnist512):
    path = tmp_path / "ck.pt"
    r = train(TINY, mnist512[:64], epochs=2, batch_size=32, seed=0, progress=False, checkpoint_path=path, keep_epochs=[1])
    assert set(r.epoch_checkpoints) == {1}
    model, spec = ckpt.load_denoiser(r.epoch_checkpoints[1])
    assert spec == TINY and not _same_weights(model, r.model)
    model, _ = ckpt.load_denoiser(path)
    assert _same_weights(model, r.model)


def test_checkpoint_errors(tmp_path, mnist512):
    path = tmp_path / "ck.pt"
    train(TINY, mnist512[:32], epochs=1, batch_size=32, progress=False, checkpoint_path=path)
    # another configuration refuses to resume from it
    with pytest.raises(CheckpointError, match="another configuration"):
        train(TINY, mnist512[:32], epochs=1, batch_size=32, lr=0.1, progress=False, checkpoint_path=path)
    # truncated file
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        ckpt.load_denoiser(bad)
    # not ours
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(CheckpointError, match="not a ddpm-mnist checkpoint"):
        ckpt.read(other)
    # weights that do not fit the spec
    payload = ckpt.read(path)
    payload["spec"]["model_options"]["channels"] = [4, 8, 16]
    torch.save(payload, other)
    with pytest.raises(CheckpointError, match="does not match the model"):
        ckpt.load_denoiser(other)


def test_spec_validates_names():
    with pytest.raises(ValueError, match="valid losses"):
        DenoiserSpec(loss="l2")
    with pytest.raises(ValueError, match="valid schedules"):
        DenoiserSpec(schedule="cos")
    assert DenoiserSpec.from_dict(TINY.to_dict()) == TINY


@pytest.mark.slow
def test_minimal_example_trains_and_samples():
    """``examples/minimal_ddpm.py``, the one-screen tour of ``core`` and ``train``, at smoke size."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "minimal_ddpm.py"
    out = subprocess.run([sys.executable, str(example), "--images", "256", "--steps", "3", "--samples", "4"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "trained 3 steps on 256 images" in out.stdout and "4 samples" in out.stdout


def test_planned_steps_closed_form():
    assert planned_steps(1.0, elapsed_s=10.0, step_s=0.5) == 100
    assert planned_steps(1.0, elapsed_s=10.0, step_s=0.5, overhead_s=20.0) == 60
    assert planned_steps(0.01, elapsed_s=5.0, step_s=1.0) == 1  # always at least one step
    with pytest.raises(ValueError, match="minutes must be > 0"):
        planned_steps(0, 0, 1.0)


def test_timed_run_fixes_its_horizon_and_equals_the_same_steps_by_epochs(tmp_path, mnist512):
    data = mnist512[:128]  # 4 steps an epoch at batch 32
    kw = dict(batch_size=32, seed=2, lr_schedule="cosine", warmup_steps=2, ema_decay=0.9, ema_warmup=True, progress=False)
    path = tmp_path / "ck.pt"
    timed = train(TINY, data, minutes=0.04, checkpoint_path=path, **kw)
    budget = timed.time_budget
    assert budget["planned_steps"] == timed.steps >= 1 and budget["probe_step_s"] > 0 and budget["minutes"] == 0.04
    state = ckpt.read(path)
    assert state["settings"]["steps"] == timed.steps and state["time_budget"] == budget
    # the probe ran on copies: the run is the plain run of that many steps (its cosine ends there too)
    plain = train(TINY, data, epochs=timed.steps / 4, **kw)
    assert plain.steps == timed.steps and plain.losses == timed.losses and _same_weights(plain.model, timed.model)


def test_timed_run_resumes_to_the_steps_it_planned(tmp_path, mnist512):
    data = mnist512[:128]
    kw = dict(batch_size=32, seed=3, progress=False, checkpoint_path=tmp_path / "ck.pt")
    part = train(TINY, data, minutes=0.03, stop_after=1, **kw)
    planned = part.time_budget["planned_steps"]
    resumed = train(TINY, data, minutes=0.03, **kw)  # no new probe: the horizon is the recorded one
    assert resumed.resumed_from_step == 1 and resumed.steps == planned and resumed.time_budget == part.time_budget
    with pytest.raises(CheckpointError, match="another configuration"):
        train(TINY, data, epochs=1, **kw)
    train(TINY, data, epochs=1, batch_size=32, seed=3, progress=False, checkpoint_path=tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not from a timed run"):
        train(TINY, data, minutes=0.03, batch_size=32, seed=3, progress=False, checkpoint_path=tmp_path / "plain.pt")


def test_run_length_is_epochs_or_minutes(mnist512):
    with pytest.raises(ValueError, match="exactly one of epochs= or minutes="):
        train(TINY, mnist512[:64], progress=False)
    with pytest.raises(ValueError, match="exactly one of epochs= or minutes="):
        train(TINY, mnist512[:64], epochs=1, minutes=1, progress=False)
    with pytest.raises(ValueError, match="takes no keep_epochs"):
        train(TINY, mnist512[:64], minutes=1, keep_epochs=[0.5], progress=False)


def test_compile_pays_only_when_the_run_recovers_the_compile():
    from ddpm_mnist.train.compile_probe import MIN_PROBE_STEPS, compile_pays

    fast = {"eager_s": 1.0, "compiled_s": 0.8, "compile_s": 60.0}  # saves 0.2 s a step: pays after 300 steps
    assert compile_pays(fast, 301) and not compile_pays(fast, 299)
    assert not compile_pays({"eager_s": 1.0, "compiled_s": 1.1, "compile_s": 5.0}, 10_000)  # slower compiled
    assert not compile_pays({"eager_s": 1.0, "compiled_s": 0.0, "compile_s": 1.0}, MIN_PROBE_STEPS - 1)  # too short to probe


@pytest.mark.slow
def test_long_cpu_runs_probe_compile_once_and_cache_it(tmp_path, mnist512, monkeypatch):
    from ddpm_mnist.train.compile_probe import probe_file

    monkeypatch.setenv("DDPM_MNIST_CACHE", str(tmp_path / "cache"))
    kw = dict(epochs=20, batch_size=32, seed=0, device="cpu", progress=False)  # 320 steps planned
    first = train(TINY, mnist512, stop_after=1, **kw)
    timings = first.numerics["compile_probe"]
    assert set(timings) >= {"eager_s", "compiled_s", "compile_s"} and timings["compile_s"] > 0
    cached = json.loads(probe_file().read_text())
    assert list(cached.values()) == [timings]
    assert first.numerics["compile"] == (((timings["eager_s"] - timings["compiled_s"]) * 320) > timings["compile_s"])
    again = train(TINY, mnist512, stop_after=1, **kw)  # read from the cache: no second probe
    assert again.numerics["compile_probe"] == timings
    short = train(TINY, mnist512[:64], stop_after=1, **{**kw, "epochs": 2})
    assert "compile_probe" not in short.numerics and short.numerics["compile"] is False
    pinned = train(TINY, mnist512, stop_after=1, compile=False, **kw)
    assert "compile_probe" not in pinned.numerics


def test_min_snr_step_minimises_the_weighted_loss(mnist512):
    """A step of a Min-SNR-γ loss reports the weighted loss of the batch it drew, and micro-batches
    give the same loss."""
    from ddpm_mnist.core.losses import get_loss, training_pair
    from ddpm_mnist.train.fastpath import TrainPath
    from ddpm_mnist.train.step import make_train_step

    spec = DenoiserSpec("unet", {"channels": (8, 16, 32), "n_convs": 5}, T=100, schedule="cosine-nichol", loss="v-l2-min-snr5")
    x0 = mnist512[:16]
    torch.manual_seed(0)
    model = spec.build()
    gen = torch.Generator().manual_seed(7)
    t = torch.randint(1, spec.T + 1, (16,), generator=gen)
    x_t, target = training_pair("v", x0, t, spec.alpha_bar(), gen)
    loss = get_loss(spec.loss)
    with torch.no_grad():
        expected = loss(model(x_t, t), target, loss.weight(t, spec.alpha_bar())).item()
        unweighted = get_loss("v-l2")(model(x_t, t), target).item()
    assert expected != pytest.approx(unweighted, rel=1e-3)
    for path in (TrainPath(), TrainPath(micro_batch=4)):
        clone = spec.build()
        clone.load_state_dict(model.state_dict())
        step = make_train_step(spec, clone, torch.optim.SGD(clone.parameters(), lr=0.0), path=path)
        assert step(x0, torch.Generator().manual_seed(7)).item() == pytest.approx(expected, rel=1e-5)


def test_edm_network_trains_saves_and_samples(tmp_path, mnist512):
    """The edm target's network sees c_in x_t, keeps only its weights in the checkpoint and samples."""
    from ddpm_mnist.core import diffusion, models
    from ddpm_mnist.core.sampling import sample
    from ddpm_mnist.train.checkpoint import load_denoiser

    spec = DenoiserSpec("unet", {"channels": (8, 16, 32), "n_convs": 5}, T=50, schedule="cosine-nichol", loss="edm-l2")
    net = spec.build()
    assert isinstance(net, models.InputScaled)
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([1, 25, 50])
    c_in = diffusion.edm_coefficients(spec.alpha_bar())[0]
    with torch.no_grad():
        assert torch.allclose(net(x, t), net.net(x * c_in[t].float().view(-1, 1, 1, 1), t))
    train(spec, mnist512[:64], epochs=1, batch_size=32, seed=0, progress=False, checkpoint_path=tmp_path / "edm.pt")
    model, loaded = load_denoiser(tmp_path / "edm.pt")
    assert loaded.loss == "edm-l2" and all(k.startswith("net.") for k in model.state_dict())
    out = sample("ddim", model, loaded.alpha_bar(), loaded.target, 4, options={"steps": 5}, seed=0)
    assert out.shape == (4, 1, 28, 28) and torch.isfinite(out).all()
