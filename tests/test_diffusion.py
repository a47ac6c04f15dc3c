import pytest
import torch

from ddpm_mnist.core import diffusion, schedules
from ddpm_mnist.core.schedules import alpha, alpha_bar, beta, posterior_variance


def _t(value, n=1):
    return torch.full((n,), value, dtype=torch.long)


@pytest.mark.parametrize("name", ["linear-beta", "linear-noise", "cosine"])
def test_posterior_matches_product_of_gaussians(name):
    """q(x_{t-1} | x_t, x_0) is proportional to q(x_t | x_{t-1}) q(x_{t-1} | x_0): a product of
    two Gaussians in x_{t-1}, whose precision and mean we compute directly."""
    T = 15
    ab = alpha_bar(name, T)
    a, b = alpha(ab), beta(ab)
    g = torch.Generator().manual_seed(0)
    x0, xt = torch.randn(1, 1, 4, 4, generator=g, dtype=torch.float64), torch.randn(1, 1, 4, 4, generator=g, dtype=torch.float64)
    for t in range(2, T + 1):
        prec = a[t] / b[t] + 1 / (1 - ab[t - 1])
        mean = (a[t].sqrt() * xt / b[t] + ab[t - 1].sqrt() * x0 / (1 - ab[t - 1])) / prec
        got = diffusion.posterior_mean(x0, xt, _t(t), ab)
        assert torch.allclose(got, mean, atol=1e-10), t
        var = diffusion.posterior_variance(_t(t), ab, x0)
        assert var.item() == pytest.approx((1 / prec).item(), rel=1e-10)
    # t = 1: q(x_0 | x_1, x_0) is a point mass at x_0
    assert torch.allclose(diffusion.posterior_mean(x0, xt, _t(1), ab), x0)
    assert posterior_variance(ab)[1] == 0


def test_q_sample_moments():
    ab = alpha_bar("linear-noise", 10)
    n, t = 200_000, 6
    x0 = torch.full((n, 1, 1, 1), 0.7)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    xt = diffusion.q_sample(x0, _t(t, n), noise, ab)
    assert xt.mean().item() == pytest.approx(ab[t].sqrt().item() * 0.7, abs=0.01)
    assert xt.var().item() == pytest.approx(1 - ab[t].item(), rel=0.01)


def test_forward_chain_matches_marginal():
    """x_{t-1} ~ q(x_{t-1}|x_0) then one q_step has the marginal q(x_t | x_0)."""
    ab = alpha_bar("linear-x", 10)
    n, t = 200_000, 4
    g = torch.Generator().manual_seed(2)
    x0 = torch.full((n, 1, 1, 1), -0.5)
    prev = diffusion.q_sample(x0, _t(t - 1, n), torch.randn(x0.shape, generator=g), ab)
    xt = diffusion.q_step(prev, _t(t, n), torch.randn(x0.shape, generator=g), ab)
    assert xt.mean().item() == pytest.approx(ab[t].sqrt().item() * -0.5, abs=0.01)
    assert xt.var().item() == pytest.approx(1 - ab[t].item(), rel=0.01)


@pytest.mark.parametrize("target", ["mean", "x0", "v", "eps"])
def test_conversions_round_trip(target):
    """From the exact quantity for each target, mean_from and x0_eps_from recover the truth."""
    ab = alpha_bar("linear-beta", 50)
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(8, 1, 5, 5, generator=g, dtype=torch.float64), torch.randn(8, 1, 5, 5, generator=g, dtype=torch.float64)
    t = torch.randint(1, 51, (8,), generator=g)
    xt = diffusion.q_sample(x0, t, eps, ab)
    exact = {"mean": diffusion.posterior_mean(x0, xt, t, ab), "x0": x0, "eps": eps, "v": diffusion.v_from(x0, eps, t, ab)}[target]
    assert torch.allclose(diffusion.mean_from(exact, target, xt, t, ab), diffusion.posterior_mean(x0, xt, t, ab), atol=1e-8)
    x0_hat, eps_hat = diffusion.x0_eps_from(exact, target, xt, t, ab)
    assert torch.allclose(x0_hat, x0, atol=1e-6) and torch.allclose(eps_hat, eps, atol=1e-6)


def test_eps_undefined_where_alpha_is_zero():
    ab = alpha_bar("linear-noise", 15)
    undefined = diffusion.undefined_steps("eps", ab)
    assert undefined.tolist() == [False] * 15 + [True]
    assert not diffusion.undefined_steps("v", ab).any() and not diffusion.undefined_steps("mean", ab).any()
    xt = torch.randn(2, 1, 3, 3)
    mean = diffusion.mean_from(torch.randn(2, 1, 3, 3), "eps", xt, torch.tensor([15, 14]), ab)
    assert torch.isnan(mean[0]).all() and torch.isfinite(mean[1]).all()
    # the v parameterisation stays finite at t = T and recovers the posterior mean there
    x0, eps = torch.randn(2, 1, 3, 3), torch.randn(2, 1, 3, 3)
    tT = torch.tensor([15, 15])
    xT = diffusion.q_sample(x0, tT, eps, ab)
    m = diffusion.mean_from(diffusion.v_from(x0, eps, tT, ab), "v", xT, tT, ab)
    assert torch.allclose(m, diffusion.posterior_mean(x0, xT, tT, ab), atol=1e-5)


def test_bad_target():
    with pytest.raises(ValueError, match="valid targets: mean, x-prev, eps, x0, v"):
        diffusion.check_target("noise")


def test_output_gain_closed_forms():
    ab = schedules.alpha_bar("cosine-nichol", 15)
    a = schedules.alpha(ab)[1:]
    assert torch.allclose(diffusion.output_gain("x-prev", ab), torch.ones(15, dtype=ab.dtype))
    assert torch.allclose(diffusion.output_gain("eps", ab), -(1 - a) / (a.sqrt() * (1 - ab[1:]).sqrt()))
    c0, _ = diffusion.posterior_mean_coefficients(ab)
    assert torch.allclose(diffusion.output_gain("x0", ab), c0[1:])
    assert torch.allclose(diffusion.output_gain("v", ab), -c0[1:] * (1 - ab[1:]).sqrt())
    # the report's schedules: the epsilon mean is undefined at t = T, and only there
    gain = diffusion.output_gain("eps", schedules.alpha_bar("linear-noise", 15))
    assert gain[:-1].isfinite().all() and gain[-1].isnan()


def test_edm_preconditioning():
    """Karras et al.'s coefficients: with sigma_data = 1 they are the v-parameterisation (F = -v);
    with data of variance sigma_data^2 both the network's input c_in x_t and its target F have unit
    variance at every step; and the target converts back to the exact x_0 and eps."""
    from ddpm_mnist.core.losses import training_pair

    ab = alpha_bar("cosine-nichol", 200)
    c_in, c_skip, c_out = diffusion.edm_coefficients(ab, sigma_data=1.0)
    assert torch.allclose(c_in, torch.ones_like(ab)) and torch.allclose(c_skip, ab.sqrt()) and torch.allclose(c_out, (1 - ab).sqrt())
    sd, n = diffusion.EDM_SIGMA_DATA, 100_000
    c_in, _, _ = diffusion.edm_coefficients(ab)
    x0 = sd * torch.randn(n, 1, 1, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for t in (1, 50, 150, 200):
        xt, F = training_pair("edm", x0, _t(t, n), ab, torch.Generator().manual_seed(t))
        assert (c_in[t] * xt).var().item() == pytest.approx(1.0, rel=0.02), t
        assert F.var().item() == pytest.approx(1.0, rel=0.02), t
    g = torch.Generator().manual_seed(6)
    x0 = torch.rand(8, 1, 5, 5, generator=g, dtype=torch.float64) * 2 - 1
    t = torch.randint(1, 201, (8,), generator=g)
    xt, F = training_pair("edm", x0, t, ab, torch.Generator().manual_seed(7))
    x0_hat, eps_hat = diffusion.x0_eps_from(F, "edm", xt, t, ab)
    assert torch.allclose(x0_hat, x0, atol=1e-8)
    assert torch.allclose(diffusion.q_sample(x0, t, eps_hat, ab), xt, atol=1e-8)
    with pytest.raises(ValueError, match="positive"):
        diffusion.edm_coefficients(ab, sigma_data=0.0)
