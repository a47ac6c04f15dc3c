import pytest
import torch

from ddpm_mnist import diffusion
from ddpm_mnist.models import build_model
from ddpm_mnist.sampling import UndefinedStepError, ancestral_sample, ddim_sample, ddim_timesteps, reverse_variance
from ddpm_mnist.schedules import alpha_bar, beta


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("unet", T=10, channels=(8, 16), n_convs=3)


@pytest.mark.parametrize("variance", ["report", "beta", "beta-tilde"])
def test_ancestral_shapes_and_determinism(model, variance):
    ab = alpha_bar("linear-noise", 10)
    a = ancestral_sample(model, ab, "mean", 5, seed=3, variance=variance, batch_size=2, progress=False)
    b = ancestral_sample(model, ab, "mean", 5, seed=3, variance=variance, batch_size=2, progress=False)
    c = ancestral_sample(model, ab, "mean", 5, seed=4, variance=variance, batch_size=2, progress=False)
    assert a.shape == (5, 1, 28, 28) and torch.equal(a, b) and not torch.equal(a, c)


def test_trajectory(model):
    ab = alpha_bar("linear-noise", 10)
    x, traj = ancestral_sample(model, ab, "x-prev", 3, seed=0, trajectory=True, progress=False)
    assert traj.shape == (11, 3, 1, 28, 28) and torch.equal(traj[-1], x)
    x, traj = ddim_sample(model, ab, "mean", 3, steps=4, seed=0, trajectory=True, progress=False)
    assert traj.shape == (5, 3, 1, 28, 28) and torch.equal(traj[-1], x)


class Oracle(torch.nn.Module):
    """Predicts the exact target for data that is a single constant image c: the posterior
    mean then reduces to the forward process run backwards, and samplers must return c."""

    def __init__(self, ab, target, c):
        super().__init__()
        self.ab, self.target, self.c = ab, target, c

    def forward(self, x, t):
        x0 = self.c.expand_as(x)
        sab, s1ab = self.ab.sqrt()[t].float().view(-1, 1, 1, 1), (1 - self.ab).sqrt()[t].float().view(-1, 1, 1, 1)
        eps = (x - sab * x0) / s1ab
        return {"mean": diffusion.posterior_mean(x0, x, t, self.ab), "eps": eps, "x0": x0, "v": diffusion.v_from(x0, eps, t, self.ab)}[self.target]


@pytest.mark.parametrize("target", ["mean", "x0", "v"])
def test_samplers_recover_point_mass(target):
    ab = alpha_bar("linear-beta", 50)
    c = torch.full((1, 1, 28, 28), 0.25)
    oracle = Oracle(ab, target, c)
    for x in (ancestral_sample(oracle, ab, target, 4, seed=0, progress=False, variance="beta-tilde"),
              ddim_sample(oracle, ab, target, 4, steps=10, seed=0, progress=False),
              ddim_sample(oracle, ab, target, 4, steps=10, eta=1.0, seed=0, progress=False)):
        assert torch.allclose(x, c.expand_as(x), atol=1e-4)


def test_eps_model_on_report_schedule_is_refused_unless_allowed(model):
    ab = alpha_bar("linear-noise", 10)
    with pytest.raises(UndefinedStepError, match=r"t = \[10\]"):
        ancestral_sample(model, ab, "eps", 2, progress=False)
    x = ancestral_sample(model, ab, "eps", 2, allow_undefined=True, progress=False)
    assert torch.isnan(x).all()
    with pytest.raises(UndefinedStepError):
        ddim_sample(model, ab, "eps", 2, progress=False)


def test_reverse_variances():
    ab = alpha_bar("linear-noise", 15)
    b = beta(ab)
    assert torch.equal(reverse_variance(ab, "beta"), b)
    assert torch.equal(reverse_variance(ab, "report")[2:], b[1:-1])  # the step t -> t-1 adds beta_{t-1}
    assert torch.allclose(reverse_variance(ab, "beta-tilde")[2:], (1 - ab[1:-1]) / (1 - ab[2:]) * b[2:])


def test_ddim_timesteps():
    assert ddim_timesteps(10, 3) == [10, 6, 1] or ddim_timesteps(10, 3) == [10, 5, 1]
    assert ddim_timesteps(10, 10) == list(range(10, 0, -1))
    with pytest.raises(ValueError):
        ddim_timesteps(10, 11)


def test_bad_arguments(model):
    ab = alpha_bar("linear-noise", 10)
    with pytest.raises(ValueError, match="valid: beta, beta-tilde, report"):
        ancestral_sample(model, ab, "mean", 2, variance="sigma", progress=False)
    with pytest.raises(ValueError, match="strictly decreasing"):
        ddim_sample(model, ab, "mean", 2, steps=[3, 5], progress=False)
