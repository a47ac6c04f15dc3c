import pytest
import torch

from ddpm_mnist.core import diffusion
from ddpm_mnist.core.models import build_model
from ddpm_mnist.core.sampling import (
    SAMPLERS, UndefinedStepError, ancestral_sample, ancestral_step, ddim_sample, ddim_step, ddim_timesteps, reverse_variance, sample,
)
from ddpm_mnist.core.schedules import alpha_bar, beta


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
              ddim_sample(oracle, ab, target, 4, steps=10, eta=1.0, seed=0, progress=False),
              sample("dpm-solver", oracle, ab, target, 4, options={"steps": 8}, seed=0, progress=False)):
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


def _forward(ab, t, x0, eps):
    return ab[t].sqrt() * x0 + (1 - ab[t]).sqrt() * eps


@pytest.mark.parametrize("t, s", [(50, 49), (50, 20), (17, 3)])
def test_ddim_step_with_the_true_noise_lands_on_the_forward_marginal(t, s):
    """Song et al.'s eq. (12) with eta = 0: given the true noise of x_t, x_s is the same clean
    image noised by the same noise at level s."""
    ab = alpha_bar("linear-beta", 50).double()
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 1, 28, 28, generator=gen, dtype=torch.float64), torch.randn(3, 1, 28, 28, generator=gen, dtype=torch.float64)
    x_t = _forward(ab, t, x0, eps)
    assert torch.allclose(ddim_step(eps, t, s, x_t, None, alpha_bar=ab, target="eps"), _forward(ab, s, x0, eps), atol=1e-10)
    assert torch.allclose(ddim_step(x0, t, 0, x_t, None, alpha_bar=ab, target="x0"), x0)  # s = 0: the predicted x0


def test_ddim_clip_clamps_x0_and_keeps_the_step_consistent():
    """With ``clip`` the predicted x0 is clamped to the data range and the step is Song et al.'s
    eq. (12) for that x0 and the noise it implies; inside the range clipping changes nothing."""
    ab = alpha_bar("linear-beta", 50).double()
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.rand(2, 1, 28, 28, generator=gen, dtype=torch.float64) * 1.8 - 0.9, torch.randn(2, 1, 28, 28, generator=gen, dtype=torch.float64)
    x_t = _forward(ab, 30, x0, eps)
    inside = ddim_step(eps, 30, 10, x_t, None, alpha_bar=ab, target="eps", clip=(-1.0, 1.0))
    assert torch.allclose(inside, ddim_step(eps, 30, 10, x_t, None, alpha_bar=ab, target="eps"), atol=1e-10)
    wild = 3 * x0  # outside [-1, 1] in places
    out0 = ddim_step(wild, 30, 0, x_t, None, alpha_bar=ab, target="x0", clip=(-1.0, 1.0))
    assert torch.equal(out0, wild.clamp(-1, 1))
    out = ddim_step(wild, 30, 10, x_t, None, alpha_bar=ab, target="x0", clip=(-1.0, 1.0))
    implied = (x_t - ab[30].sqrt() * wild.clamp(-1, 1)) / (1 - ab[30]).sqrt()
    assert torch.allclose(out, _forward(ab, 10, wild.clamp(-1, 1), implied), atol=1e-10)


def test_ancestral_step_is_the_posterior_mean_plus_sigma_z():
    ab = alpha_bar("linear-beta", 20)
    x0, x_t = torch.rand(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    t = 7
    mean = diffusion.posterior_mean(x0, x_t, torch.full((2,), t), ab)
    z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(5))
    out = ancestral_step(x0, t, x_t, torch.Generator().manual_seed(5), alpha_bar=ab, target="x0", sigma_t=0.3)
    assert torch.allclose(out, mean + 0.3 * z)
    # the last step (t = 1) adds no noise
    last = ancestral_step(x0, 1, x_t, torch.Generator(), alpha_bar=ab, target="x0", sigma_t=0.3)
    assert torch.allclose(last, diffusion.posterior_mean(x0, x_t, torch.ones(2, dtype=torch.long), ab))


def test_the_registry_drives_every_sampler(model):
    ab = alpha_bar("linear-noise", 10)
    assert set(SAMPLERS) == {"ancestral", "ddim", "dpm-solver"}
    a = sample("ancestral", model, ab, "mean", 3, options={"variance": "beta"}, seed=1, progress=False)
    assert torch.equal(a, ancestral_sample(model, ab, "mean", 3, variance="beta", seed=1, progress=False))
    d = sample("ddim", model, ab, "mean", 3, options={"steps": 4, "eta": 0.5}, seed=1, progress=False)
    assert torch.equal(d, ddim_sample(model, ab, "mean", 3, steps=4, eta=0.5, seed=1, progress=False))
    with pytest.raises(ValueError, match="takes the options steps, eta, clip, not variance"):
        sample("ddim", model, ab, "mean", 3, options={"variance": "beta"}, progress=False)
    with pytest.raises(ValueError, match="valid samplers: ancestral, ddim, dpm-solver"):
        sample("euler", model, ab, "mean", 3, progress=False)


def test_run_config_and_cli_read_the_registry():
    from ddpm_mnist.cli import build_parser
    from ddpm_mnist.studies.config import RunConfig

    assert RunConfig(sampler="ddim", ddim_steps=5, ddim_eta=1.0).sampler_options == {"steps": 5, "eta": 1.0, "clip": None}
    assert RunConfig(sampler="ddim", ddim_clip=True, value_range="[0,1]").sampler_options["clip"] == (0.0, 1.0)
    assert RunConfig(sampler="ddim").hash() == RunConfig(sampler="ddim", ddim_clip=False).hash() != RunConfig(sampler="ddim", ddim_clip=True).hash()
    assert RunConfig(variance="beta").sampler_options == {"variance": "beta"}
    with pytest.raises(ValueError, match="valid samplers: ancestral, ddim, dpm-solver"):
        RunConfig(sampler="euler")
    sample_cmd = build_parser()._subparsers._group_actions[0].choices["sample"]
    assert next(a for a in sample_cmd._actions if a.dest == "sampler").choices == list(SAMPLERS)


def test_dpm_solver_first_step_is_ddim():
    from ddpm_mnist.core.sampling import dpm_solver_step

    ab = alpha_bar("cosine-nichol", 100)
    g = torch.Generator().manual_seed(0)
    x0, x_t = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64), torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
    for t, s in ((100, 80), (40, 7)):
        ddim = ddim_step(x0, t, s, x_t, None, alpha_bar=ab, target="x0")
        assert torch.allclose(dpm_solver_step(x0, t, s, x_t, alpha_bar=ab), ddim, atol=1e-10)
    assert torch.equal(dpm_solver_step(x0, 5, 0, x_t, alpha_bar=ab, previous=(x_t, 9)), x0)


class GaussianOracle(torch.nn.Module):
    """The exact x0 prediction E[x0 | x_t] for data N(0, sd^2 I): its probability-flow ODE keeps
    x_t / sqrt(abar_t sd^2 + 1 - abar_t) constant, so the exact end point is known."""

    def __init__(self, ab, sd):
        super().__init__()
        self.ab, self.sd = ab, sd

    def forward(self, x, t):
        a = self.ab[t].view(-1, 1, 1, 1)
        return (a.sqrt() * self.sd**2 * x / (a * self.sd**2 + 1 - a)).float()


def test_dpm_solver_is_second_order_on_gaussian_data():
    """On the same 10 evaluations (quadratic grid) DPM-Solver++(2M) lands far closer to the ODE's
    exact end point than DDIM (first order) on either grid, and doubling its steps cuts its error
    by more than first order would; on the even grid its big low-noise step costs it that lead."""
    ab, sd = alpha_bar("cosine-nichol", 1000), 0.5
    oracle = GaussianOracle(ab, sd)
    x_T = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    exact = x_T * sd / (ab[1000] * sd**2 + 1 - ab[1000]).sqrt().float()
    # start both from t = 1000 exactly where the exact solution starts (the seed's noise is x_T)
    err = {}
    for name, steps, spacing in (("ddim", 10, None), ("dpm-solver", 10, "quadratic"), ("dpm-solver", 20, "quadratic"),
                                 ("dpm-solver", 10, "linear")):
        options = {"steps": steps, **({"spacing": spacing} if spacing else {})}
        x = sample(name, oracle, ab, "x0", 64, options=options, seed=1, batch_size=64, progress=False)
        err[name, steps, spacing] = (x - exact).abs().mean().item()
    ts = ddim_timesteps(1000, 10, "quadratic")
    quad_ddim = sample("ddim", oracle, ab, "x0", 64, options={"steps": ts}, seed=1, batch_size=64, progress=False)
    assert err["dpm-solver", 10, "quadratic"] < min(err["ddim", 10, None], (quad_ddim - exact).abs().mean().item()) / 2.5, err
    assert err["dpm-solver", 20, "quadratic"] < err["dpm-solver", 10, "quadratic"] / 3, err
    assert err["dpm-solver", 10, "linear"] > err["ddim", 10, None], err
    assert ts[0] == 1000 and ts[-1] == 1 and ts[1] - ts[2] > ts[-2] - ts[-1]
    with pytest.raises(ValueError, match="valid: linear, quadratic"):
        ddim_timesteps(1000, 10, "cubic")


class GaussianEpsOracle(torch.nn.Module):
    """The exact ε prediction for data N(mu, sd^2 I): ε = (x_t - sqrt(abar) E[x0 | x_t]) / sqrt(1 - abar)."""

    def __init__(self, ab, mu, sd):
        super().__init__()
        self.ab, self.mu, self.sd = ab.double(), mu, sd

    def forward(self, x, t):
        a, x = self.ab[t].view(-1, 1, 1, 1), x.double()
        x0 = self.mu + a.sqrt() * self.sd**2 * (x - a.sqrt() * self.mu) / (a * self.sd**2 + 1 - a)
        return ((x - a.sqrt() * x0) / (1 - a).sqrt()).float()


@pytest.mark.parametrize("T", [100, 1000])
def test_ancestral_sampler_with_the_exact_eps_recovers_gaussian_data(T):
    """With the exact ε of Gaussian data, Algorithm 2 (σ² = β) ends on the data's mean and spread,
    at T = 100 (1/sqrt(abar_T) about 220, each step large) as at T = 1000: a network that crowds its
    samples at small T is a training effect, not the sampler's."""
    ab = alpha_bar("linear-beta", T)
    x = sample("ancestral", GaussianEpsOracle(ab, -0.6, 0.5), ab, "eps", 128, options={"variance": "beta"},
               seed=1, batch_size=128, progress=False)
    assert abs(x.mean().item() + 0.6) < 0.02 and abs(x.std().item() - 0.5) < 0.03, (x.mean().item(), x.std().item())
