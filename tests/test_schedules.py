import math

import pytest
import torch

from ddpm_mnist.core import schedules
from ddpm_mnist.core.schedules import SCHEDULES, alpha, alpha_bar, beta, posterior_variance


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("T", [1, 15, 1000])
def test_shape_start_and_monotone(name, T):
    ab = alpha_bar(name, T)
    assert ab.shape == (T + 1,) and ab.dtype == torch.float64
    assert ab[0] == 1.0
    assert torch.all(ab[1:] <= ab[:-1]) and torch.all(ab[1:] < 1.0)
    assert torch.all((ab >= 0) & (ab <= 1))


@pytest.mark.parametrize("name", schedules.REPORT_SCHEDULES)
def test_report_schedules_reach_zero(name):
    ab = alpha_bar(name, 15)
    assert ab[-1] == 0.0
    assert beta(ab)[-1] == 1.0 and alpha(ab)[-1] == 0.0


def test_closed_forms():
    T, t = 20, 7
    u = t / T
    assert alpha_bar("linear-alpha-bar", T)[t].item() == pytest.approx(1 - u)
    assert alpha_bar("linear-x", T)[t].sqrt().item() == pytest.approx(1 - u)
    assert (1 - alpha_bar("linear-noise", T)[t]).sqrt().item() == pytest.approx(u)
    s = 0.008
    f = lambda v: math.cos((v + s) / (1 + s) * math.pi / 2)
    assert alpha_bar("cosine", T)[t].item() == pytest.approx(f(u) / f(0))
    assert alpha_bar("cosine-nichol", T)[t].item() == pytest.approx(f(u) ** 2 / f(0) ** 2)
    assert alpha_bar("cosine-nichol", T)[-1] > 0  # beta clipped at 0.999


def test_linear_beta_matches_ho():
    ab = alpha_bar("linear-beta", 1000)
    b = beta(ab)
    assert b[1].item() == pytest.approx(1e-4) and b[1000].item() == pytest.approx(0.02)
    assert ab[-1].item() == pytest.approx(torch.prod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)).item())


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_beta_recovers_alpha_bar(name):
    ab = alpha_bar(name, 50)
    assert torch.allclose(torch.cumprod(1 - beta(ab), 0), ab, atol=1e-12)


def test_posterior_variance_closed_form():
    ab = alpha_bar("linear-beta", 100)
    pv, b = posterior_variance(ab), beta(ab)
    t = 37
    assert pv[t].item() == pytest.approx(((1 - ab[t - 1]) / (1 - ab[t]) * b[t]).item())
    assert pv[1] == 0


def test_bad_names_list_valid():
    with pytest.raises(ValueError, match="valid schedules: cosine, cosine-nichol"):
        alpha_bar("cosin", 10)
    with pytest.raises(ValueError, match="positive integer"):
        alpha_bar("cosine", 0)


def test_snr_closed_form_and_ends():
    ab = schedules.alpha_bar("linear-noise", 4)  # 1 - u^2: SNR = (1 - u^2) / u^2
    u = torch.arange(5, dtype=torch.float64) / 4
    s = schedules.snr(ab, data_variance=2.0)
    assert torch.isinf(s[0]) and s[-1] == 0
    assert torch.allclose(s[1:], 2.0 * (1 - u[1:] ** 2) / u[1:] ** 2)
    assert (s[1:] <= s[:-1]).all()
    with pytest.raises(ValueError, match="positive"):
        schedules.snr(ab, data_variance=0.0)
