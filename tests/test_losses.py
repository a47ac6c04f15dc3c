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


def test_min_snr_weighting_is_the_same_x0_weight_for_every_target():
    """Hang et al.'s eq. 5: whatever the target, an error on x0 costs min(SNR_t, 5) times its square."""
    ab = alpha_bar("cosine-nichol", 1000)
    t = torch.tensor([1, 40, 300, 700, 999, 1000])
    x0 = torch.rand(6, 1, 5, 5) * 2 - 1
    eps = torch.randn(6, 1, 5, 5, generator=torch.Generator().manual_seed(2))
    x_t = diffusion.q_sample(x0, t, eps, ab)
    x0_hat = x0 + 0.1 * torch.randn(6, 1, 5, 5, generator=torch.Generator().manual_seed(3))
    s, s1 = ab[t].sqrt().view(-1, 1, 1, 1).float(), (1 - ab[t]).sqrt().view(-1, 1, 1, 1).float()
    eps_hat = (x_t - s * x0_hat) / s1
    predictions = {"x0": (x0_hat, x0), "eps": (eps_hat, eps), "v": (s * eps_hat - s1 * x0_hat, s * eps - s1 * x0)}
    snr = (ab[t] / (1 - ab[t])).float()
    expected = (snr.clamp(max=5.0) * (x0_hat - x0).square().flatten(1).mean(1)).mean()
    for name, target in (("x0-l2-min-snr5", "x0"), ("epsilon-l2-min-snr5", "eps"), ("v-l2-min-snr5", "v")):
        loss = get_loss(name)
        assert loss.target == target and loss.min_snr_gamma == 5.0
        pred, true = predictions[target]
        assert loss(pred, true, loss.weight(t, ab)).item() == pytest.approx(expected.item(), rel=1e-3), name
    assert get_loss("v-l2").weight(t, ab) is None


def test_min_snr_weight_refuses_what_it_cannot_weigh():
    from ddpm_mnist.core.losses import min_snr_weight

    ab = alpha_bar("linear-noise", 15)  # alpha_bar_T = 0: SNR_T = 0
    assert min_snr_weight("eps", torch.tensor([15]), ab, 5.0).item() == 1.0
    with pytest.raises(ValueError, match="eps, x0 and v"):
        min_snr_weight("mean", torch.tensor([3]), ab, 5.0)
    with pytest.raises(ValueError, match="positive"):
        min_snr_weight("v", torch.tensor([3]), ab, 0.0)
