r"""Noise schedules: the cumulative signal fraction :math:`\bar\alpha_t` for t = 0..T.

Every schedule is defined through :math:`\bar\alpha_t` with :math:`\bar\alpha_0 = 1`; the
per-step quantities follow as :math:`\alpha_t = \bar\alpha_t / \bar\alpha_{t-1}` and
:math:`\beta_t = 1 - \alpha_t` (the report's section 2.1).

The report's four schedules (its section 4.3.6), with :math:`u = t/T`:

* ``cosine``: :math:`\bar\alpha_t = f(u)/f(0)`, :math:`f(u) = \cos\!\big(\tfrac{u+s}{1+s}\tfrac{\pi}{2}\big)`
  -- the report's formula, which omits the square of Nichol & Dhariwal's;
* ``linear-alpha-bar``: :math:`\bar\alpha_t = 1 - u`;
* ``linear-x``: :math:`\sqrt{\bar\alpha_t} = 1 - u`;
* ``linear-noise``: :math:`\sqrt{1-\bar\alpha_t} = u`.

All four reach :math:`\bar\alpha_T = 0` exactly, hence :math:`\beta_T = 1` and
:math:`\alpha_T = 0` (see :mod:`ddpm_mnist.core.diffusion` for what that breaks). Two more:

* ``cosine-nichol``: Nichol & Dhariwal (2021), :math:`f(u) = \cos^2(\cdot)`, with
  :math:`\beta_t` clipped at 0.999 as in their paper, so :math:`\bar\alpha_T > 0`;
* ``linear-beta``: Ho et al. (2020), :math:`\beta_t` linear from 1e-4 to 0.02 at T = 1000,
  both ends scaled by 1000/T for other T (as in Nichol & Dhariwal's code).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

CosineOffset = 0.008
"""Default offset ``s`` of the cosine schedules (Nichol & Dhariwal's value)."""


def _grid(T: int) -> torch.Tensor:
    return torch.arange(T + 1, dtype=torch.float64) / T


def _cosine(T: int, s: float = CosineOffset) -> torch.Tensor:
    f = torch.cos((_grid(T) + s) / (1 + s) * math.pi / 2)
    ab = f / f[0]
    ab[-1] = 0.0  # cos(pi/2) is 6e-17 in floating point; the report's schedule ends at exactly 0
    return ab.clamp(min=0.0)


def _cosine_nichol(T: int, s: float = CosineOffset, max_beta: float = 0.999) -> torch.Tensor:
    f = torch.cos((_grid(T) + s) / (1 + s) * math.pi / 2) ** 2
    ratio = (f[1:] / f[:-1]).clamp(min=1 - max_beta)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(ratio, 0)])


def _linear_alpha_bar(T: int) -> torch.Tensor:
    return 1.0 - _grid(T)


def _linear_x(T: int) -> torch.Tensor:
    return (1.0 - _grid(T)) ** 2


def _linear_noise(T: int) -> torch.Tensor:
    return 1.0 - _grid(T) ** 2


def _linear_beta(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    scale = 1000.0 / T
    beta = torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64).clamp(max=0.999)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1.0 - beta, 0)])


SCHEDULES: dict[str, Callable[..., torch.Tensor]] = {
    "cosine": _cosine,
    "cosine-nichol": _cosine_nichol,
    "linear-alpha-bar": _linear_alpha_bar,
    "linear-x": _linear_x,
    "linear-noise": _linear_noise,
    "linear-beta": _linear_beta,
}
"""Schedule name -> function ``(T, **options) -> alpha_bar`` of shape (T+1,), float64."""

REPORT_SCHEDULES = ("cosine", "linear-alpha-bar", "linear-x", "linear-noise")


def alpha_bar(name: str, T: int, **options: float) -> torch.Tensor:
    r""":math:`\bar\alpha_t` for t = 0..T: float64 tensor of shape (T+1,), with value 1 at t = 0,
    non-increasing, in [0, 1]. ``options`` go to the schedule (``s`` for the cosines)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}")
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"the number of noising steps T must be a positive integer, got {T!r}")
    try:
        return SCHEDULES[name](T, **options)
    except TypeError as exc:
        raise ValueError(f"bad option for schedule {name!r}: {exc}") from None


def alpha(alpha_bar: torch.Tensor) -> torch.Tensor:
    r""":math:`\alpha_t = \bar\alpha_t/\bar\alpha_{t-1}` for t = 0..T (shape (T+1,), with alpha[0] = 1).

    Where :math:`\bar\alpha_{t-1} = 0` the ratio is taken as 0 (the chain has no signal left)."""
    prev = alpha_bar[:-1]
    ratio = torch.where(prev > 0, alpha_bar[1:] / prev.clamp(min=torch.finfo(prev.dtype).tiny), torch.zeros_like(prev))
    return torch.cat([torch.ones_like(alpha_bar[:1]), ratio])


def beta(alpha_bar: torch.Tensor) -> torch.Tensor:
    r""":math:`\beta_t = 1 - \bar\alpha_t/\bar\alpha_{t-1}` for t = 0..T (shape (T+1,), beta[0] = 0)."""
    return 1.0 - alpha(alpha_bar)


def posterior_variance(alpha_bar: torch.Tensor) -> torch.Tensor:
    r""":math:`\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t` for t = 0..T
    (shape (T+1,); :math:`\tilde\beta_0 = \tilde\beta_1 = 0`)."""
    b = beta(alpha_bar)
    out = torch.zeros_like(alpha_bar)
    out[1:] = (1.0 - alpha_bar[:-1]) / (1.0 - alpha_bar[1:]) * b[1:]
    return out


def snr(alpha_bar: torch.Tensor, data_variance: float = 1.0) -> torch.Tensor:
    r"""Signal-to-noise ratio of :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon`
    per pixel, :math:`\bar\alpha_t\,\sigma^2_{\text{data}}/(1-\bar\alpha_t)` for t = 0..T: shape
    (T+1,), ``inf`` at t = 0 and 0 where :math:`\bar\alpha_t = 0`. ``data_variance``: the pixel
    variance of :math:`x_0` in the range the model works in (1 for unit-variance data)."""
    if data_variance <= 0:
        raise ValueError(f"data_variance must be positive, got {data_variance!r}")
    return alpha_bar * data_variance / (1.0 - alpha_bar)
