import pytest
import torch

from ddpm_mnist.core import diffusion
from ddpm_mnist.core.losses import LOSSES, REPORT_LOSSES, get_loss, training_pair
from ddpm_mnist.core.schedules import alpha_bar, posterior_variance


def test_report_losses_present_with_targets():
    assert set(REPORT_LOSSES) <= set(LOSSES)
    assert get_loss("mu-tilde-l2").target == "mean" and get_loss("x-prev-l1").target == "x-prev"
    assert get_loss("epsilon-l2").target == "eps" and get_loss("epsilon-l1").norm == "l1"


def test_norms():
    p, y = torch.tensor([1.0, -2.0]), torch.tensor([0.0, 0.0])
    assert get_loss("x-prev-l2")(p, y).item() == pytest.approx(2.5)
    assert get_loss("x-prev-l1")(p, y).item() == pytest.approx(1.5)


def test_targets():
    ab = alpha_bar("linear-noise", 15)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 6, 6) * 2 - 1
    t = torch.tensor([1, 5, 10, 15])
    # eps: x_t = sqrt(ab) x0 + sqrt(1-ab) eps with the returned eps
    xt, eps = training_pair("eps", x0, t, ab, torch.Generator().manual_seed(1))
    assert torch.allclose(xt, diffusion.q_sample(x0, t, eps, ab), atol=1e-6)
    # mean: the posterior mean of the returned x_t
    xt, mu = training_pair("mean", x0, t, ab, g)
    assert torch.allclose(mu, diffusion.posterior_mean(x0, xt, t, ab), atol=1e-6)
    # x0 and v
    xt, y = training_pair("x0", x0, t, ab, g)
    assert torch.equal(y, x0)


def test_x_prev_is_a_posterior_sample():
    """x-prev targets scatter around the posterior mean with the posterior variance."""
    ab = alpha_bar("linear-noise", 15)
    n, t = 100_000, 8
    x0 = torch.full((n, 1, 1, 1), 0.3)
    xt, x_prev = training_pair("x-prev", x0, torch.full((n,), t), ab, torch.Generator().manual_seed(4))
    resid = x_prev - diffusion.posterior_mean(x0, xt, torch.full((n,), t), ab)
    assert resid.mean().item() == pytest.approx(0.0, abs=0.01)
    assert resid.var().item() == pytest.approx(posterior_variance(ab)[t].item(), rel=0.02)
    # and x_t has the right marginal
    assert xt.var().item() == pytest.approx(1 - ab[t].item(), rel=0.02)


def test_unknown_loss():
    with pytest.raises(ValueError, match="valid losses: mu-tilde-l2"):
        get_loss("mse")
