"""The optimisation protocol (:mod:`ddpm_mnist.train.protocol`): closed forms of the schedules and
the EMA warm-up, schedule-free evaluation weights, exact resume, and the runner's horizon rule."""

import math

import pytest
import torch

from ddpm_mnist.studies.config import RunConfig
from ddpm_mnist.studies.report import UNET
from ddpm_mnist.train import checkpoint as ckpt
from ddpm_mnist.train.protocol import ema_decay_at, ema_update_fn, horizon_free, lr_factor
from ddpm_mnist.train.training import train

from test_training import TINY, _same_weights


def test_lr_factor_closed_forms():
    assert [lr_factor(s, 10, "constant", 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    total, warm = 104, 4
    cos = [lr_factor(s, total, "cosine", warm) for s in range(total)]
    assert cos[warm] == 1.0 and cos[warm + 50] == pytest.approx(0.5) and cos[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.99)))
    assert all(a >= b for a, b in zip(cos[warm:], cos[warm + 1:]))  # decays monotonically
    lin = [lr_factor(s, total, "linear", warm) for s in range(total)]
    assert lin[warm] == 1.0 and lin[warm + 25] == pytest.approx(0.75) and lin[-1] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="valid schedules"):
        lr_factor(5, 10, "step")


def test_ema_warmup_decay_and_update():
    assert ema_decay_at(0, 0.999, warmup=True) == pytest.approx(0.1)
    assert ema_decay_at(90, 0.999, warmup=True) == pytest.approx(91 / 100)
    assert ema_decay_at(10**6, 0.999, warmup=True) == 0.999 and ema_decay_at(3, 0.9) == 0.9
    avg, cur = [torch.zeros(3)], [torch.ones(3)]
    ema_update_fn(0.999, warmup=True)(avg, cur, torch.tensor(8))  # decay (1 + 8) / (10 + 8) = 0.5
    assert torch.allclose(avg[0], torch.full((3,), 0.5))


def test_ema_warmup_averages_the_trained_iterates(mnist512):
    """The EMA after a run equals the warm-up recursion applied to the iterates, replayed step by step."""
    data = mnist512[:64]
    kw = dict(batch_size=32, seed=2, progress=False, lr=1e-3)
    iterates = [train(TINY, data, epochs=e / 2, **kw).model.state_dict() for e in (1, 2, 3)]
    ema = train(TINY, data, epochs=1.5, ema_decay=0.999, ema_warmup=True, **kw).ema_model.state_dict()
    expected = {k: v.clone() for k, v in iterates[0].items()}  # the first update copies
    for n, sd in enumerate(iterates[1:], start=1):
        d = ema_decay_at(n, 0.999, warmup=True)
        expected = {k: d * expected[k] + (1 - d) * sd[k] for k in expected}
    assert all(torch.allclose(ema[k], expected[k], atol=1e-6) for k in expected)


def test_cosine_resume_is_exact_and_refuses_milestones(tmp_path, mnist512):
    data = mnist512[:128]
    kw = dict(epochs=3, batch_size=32, seed=4, progress=False, lr_schedule="cosine", warmup_steps=3, checkpoint_every=4)
    full = train(TINY, data, **kw)
    path = tmp_path / "ck.pt"
    train(TINY, data, checkpoint_path=path, stop_after=6, **kw)
    resumed = train(TINY, data, checkpoint_path=path, **kw)
    assert resumed.losses == full.losses and _same_weights(resumed.model, full.model)
    with pytest.raises(ValueError, match="depends on the run's length"):
        train(TINY, data, keep_epochs=[1], **{**kw, "checkpoint_every": 200})
    other = train(TINY, data, **{**kw, "lr_schedule": "constant"})
    assert other.losses[:3] == full.losses[:3] and other.losses[5:] != full.losses[5:]  # same warm-up, then another lr


def test_schedule_free_samples_its_average_and_resumes(tmp_path, mnist512):
    pytest.importorskip("schedulefree")
    data = mnist512[:128]
    kw = dict(epochs=2, batch_size=32, seed=6, lr=2e-3, optimizer="schedulefree", warmup_steps=2, progress=False, checkpoint_every=3)
    path = tmp_path / "sf.pt"
    train(TINY, data, checkpoint_path=path, stop_after=5, **kw)
    resumed = train(TINY, data, checkpoint_path=path, **kw)
    full = train(TINY, data, **kw)
    assert resumed.losses == full.losses and _same_weights(resumed.model, full.model)  # checkpoints leave the run unchanged
    state = ckpt.read(path)
    assert state["eval_state_dict"] is not None and not all(torch.equal(state["eval_state_dict"][k], state["state_dict"][k])
                                                            for k in state["state_dict"] if k.endswith("weight"))
    model, _ = ckpt.denoiser_from(state, ema=False)
    assert _same_weights(model, full.model)  # the returned model and the stored evaluation weights are the average x


def test_config_protocol_fields():
    assert UNET.horizon_free and not UNET.with_param("lr_schedule", "cosine").horizon_free
    assert horizon_free("schedulefree", "constant")
    assert UNET.with_param("use_ema", False).train_hash() == UNET.train_hash()  # sampling only
    assert UNET.with_param("ema_warmup", True).train_hash() != UNET.train_hash()
    with pytest.raises(ValueError, match="valid optimizers"):
        RunConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="needs none"):
        RunConfig(optimizer="schedulefree", lr_schedule="cosine")


def test_the_published_protocol_is_one_the_protocol_study_measures():
    """The ``cpu`` profile's protocol is a candidate of the protocol study, applied to the baseline."""
    from ddpm_mnist.studies.profiles import CPU_PROTOCOL, with_protocol
    from ddpm_mnist.studies.protocol import CANDIDATES
    from ddpm_mnist.studies.report import UNET

    assert any(with_protocol(UNET, CPU_PROTOCOL) == c for c in CANDIDATES.values())
