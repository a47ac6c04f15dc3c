r"""The forward process, its posterior, and conversions between network parameterisations.

Conventions: images ``x`` are float tensors of shape ``(B, C, H, W)``; time steps ``t`` are
int64 tensors of shape ``(B,)`` with values in 1..T; ``alpha_bar`` is the float64 tensor
of shape ``(T+1,)`` from :func:`ddpm_mnist.core.schedules.alpha_bar`. Every function returns a
tensor of the shape and dtype of ``x``.

A network is trained to predict one of these *targets* from ``(x_t, t)``:

``mean``
    the posterior mean :math:`\tilde\mu_t(x_t, x_0)` (the report's ``mu-tilde``);
``x-prev``
    :math:`x_{t-1}` itself -- a sample, so under an L2 loss the network learns its
    conditional mean, which is again :math:`E[\tilde\mu_t \mid x_t]` (the report's ``x-prev``);
``eps``
    the noise :math:`\epsilon` in :math:`x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\epsilon`;
``x0``
    the clean image;
``v``
    :math:`v = \sqrt{\bar\alpha_t}\epsilon - \sqrt{1-\bar\alpha_t}x_0` (Salimans & Ho, 2022);
``edm``
    :math:`F = (x_0 - c_\text{skip}x_t)/c_\text{out}`, Karras et al.'s (2022) preconditioned
    output, with the network fed :math:`c_\text{in}x_t` (:func:`edm_coefficients`).

**Where a conversion cannot work.** With :math:`\bar\alpha_T = 0` (all the report's
schedules) :math:`x_T` is pure noise, so a prediction of :math:`\epsilon` carries no
information on :math:`x_0`, and the ε-to-mean formula divides by :math:`\sqrt{\alpha_T} = 0`.
Such entries come back as NaN rather than as an arbitrary number;
:func:`undefined_steps` says in advance which steps are affected.
"""

from __future__ import annotations

import torch

from . import schedules

TARGETS = ("mean", "x-prev", "eps", "x0", "v", "edm")

EDM_SIGMA_DATA = 0.5
"""Karras et al.'s :math:`\\sigma_\\text{data}` for images in [-1, 1] (their Table 1)."""


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown prediction target {target!r}; valid targets: {', '.join(TARGETS)}")
    return target


def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` broadcast to ``like``: shape (B, 1, 1, 1), dtype and device of ``like``."""
    v = values.to(t.device)[t]
    return v.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    r"""Sample :math:`x_t \sim q(x_t \mid x_0) = N(\sqrt{\bar\alpha_t}x_0, (1-\bar\alpha_t)I)` given the noise."""
    return _at(alpha_bar.sqrt(), t, x0) * x0 + _at((1 - alpha_bar).sqrt(), t, x0) * noise


def q_step(x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    r"""One forward step :math:`x_t = \sqrt{\alpha_t}x_{t-1} + \sqrt{\beta_t}\epsilon_t` (report, section 2.1)."""
    a = schedules.alpha(alpha_bar)
    return _at(a.sqrt(), t, x_prev) * x_prev + _at((1 - a).sqrt(), t, x_prev) * noise


def posterior_mean_coefficients(alpha_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Coefficients :math:`(c_0, c_t)` of :math:`\tilde\mu_t = c_0 x_0 + c_t x_t`, each of shape (T+1,):
    :math:`c_0 = \sqrt{\bar\alpha_{t-1}}\beta_t/(1-\bar\alpha_t)`,
    :math:`c_t = \sqrt{\alpha_t}(1-\bar\alpha_{t-1})/(1-\bar\alpha_t)`. Entry 0 is unused (set to 0)."""
    a = schedules.alpha(alpha_bar)
    c0 = torch.zeros_like(alpha_bar)
    ct = torch.zeros_like(alpha_bar)
    c0[1:] = alpha_bar[:-1].sqrt() * (1 - a[1:]) / (1 - alpha_bar[1:])
    ct[1:] = a[1:].sqrt() * (1 - alpha_bar[:-1]) / (1 - alpha_bar[1:])
    return c0, ct


def posterior_mean(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    r""":math:`\tilde\mu_t(x_t, x_0)`, the mean of :math:`q(x_{t-1} \mid x_t, x_0)`."""
    c0, ct = posterior_mean_coefficients(alpha_bar)
    return _at(c0, t, x0) * x0 + _at(ct, t, x0) * x_t


def posterior_variance(t: torch.Tensor, alpha_bar: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    r""":math:`\tilde\beta_t`, the variance of :math:`q(x_{t-1} \mid x_t, x_0)`, shaped (B, 1, 1, 1) like ``like``."""
    return _at(schedules.posterior_variance(alpha_bar), t, like)


def v_from(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    r""":math:`v = \sqrt{\bar\alpha_t}\epsilon - \sqrt{1-\bar\alpha_t}x_0`."""
    return _at(alpha_bar.sqrt(), t, x0) * eps - _at((1 - alpha_bar).sqrt(), t, x0) * x0


def edm_coefficients(alpha_bar: torch.Tensor, sigma_data: float = EDM_SIGMA_DATA) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Karras et al.'s (2022, Table 1) preconditioning :math:`(c_\text{in}, c_\text{skip}, c_\text{out})`
    written for the variance-preserving :math:`x_t`, each of shape (T+1,) like ``alpha_bar``.

    Their denoiser is :math:`D(\tilde x) = c_\text{skip}\tilde x + c_\text{out}F(c_\text{in}\tilde x)` on
    :math:`\tilde x = x_0 + \sigma\epsilon`, with :math:`\sigma^2 = (1-\bar\alpha_t)/\bar\alpha_t`
    here, so :math:`\tilde x = x_t/\sqrt{\bar\alpha_t}`. With
    :math:`d_t = 1 - \bar\alpha_t + \sigma_\text{data}^2\bar\alpha_t` (the variance of :math:`x_t`
    for data of variance :math:`\sigma_\text{data}^2`) the coefficients on :math:`x_t` are
    :math:`c_\text{in} = 1/\sqrt{d_t}`, :math:`c_\text{skip} = \sigma_\text{data}^2\sqrt{\bar\alpha_t}/d_t`,
    :math:`c_\text{out} = \sigma_\text{data}\sqrt{1-\bar\alpha_t}/\sqrt{d_t}`, so that
    :math:`\hat x_0 = c_\text{skip}x_t + c_\text{out}F`. Their loss weight :math:`1/c_\text{out}^2`
    makes the loss on :math:`F` unweighted. With :math:`\sigma_\text{data} = 1`, :math:`F = -v`.
    """
    if sigma_data <= 0:
        raise ValueError(f"sigma_data must be positive, got {sigma_data!r}")
    d = 1 - alpha_bar + sigma_data**2 * alpha_bar
    return 1 / d.sqrt(), sigma_data**2 * alpha_bar.sqrt() / d, sigma_data * (1 - alpha_bar).sqrt() / d.sqrt()


def undefined_steps(target: str, alpha_bar: torch.Tensor) -> torch.Tensor:
    r"""Boolean tensor of shape (T+1,): True at the steps t >= 1 where the posterior mean cannot be
    recovered from a prediction of ``target`` (only ``eps``, where :math:`\alpha_t = 0`)."""
    check_target(target)
    out = torch.zeros(alpha_bar.shape, dtype=torch.bool)
    if target == "eps":
        out[1:] = schedules.alpha(alpha_bar)[1:] == 0
    return out


def mean_from_eps(eps: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    r"""Ho et al.'s :math:`\mu = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\epsilon\big)`;
    NaN where :math:`\alpha_t = 0`."""
    a = schedules.alpha(alpha_bar)
    ok = a > 0
    inv_sqrt_a = torch.where(ok, 1 / a.clamp(min=1e-300).sqrt(), torch.full_like(a, float("nan")))
    coef = torch.zeros_like(alpha_bar)
    coef[1:] = (1 - a[1:]) / (1 - alpha_bar[1:]).sqrt()
    return _at(inv_sqrt_a, t, x_t) * (x_t - _at(coef, t, x_t) * eps)


def x0_eps_from(
    output: torch.Tensor, target: str, x_t: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The network's implied :math:`(\hat x_0, \hat\epsilon)` for any target (used by DDIM).
    NaN where the target does not determine them (ε at :math:`\bar\alpha_t = 0`)."""
    check_target(target)
    sab, s1ab = _at(alpha_bar.sqrt(), t, x_t), _at((1 - alpha_bar).sqrt(), t, x_t)
    if target in ("mean", "x-prev"):
        c0, ct = posterior_mean_coefficients(alpha_bar)
        x0 = (output - _at(ct, t, x_t) * x_t) / _at(c0, t, x_t)
    elif target == "x0":
        x0 = output
    elif target == "v":
        x0 = sab * x_t - s1ab * output
    elif target == "edm":
        _, c_skip, c_out = edm_coefficients(alpha_bar)
        x0 = _at(c_skip, t, x_t) * x_t + _at(c_out, t, x_t) * output
    else:  # eps
        x0 = torch.where(sab > 0, (x_t - s1ab * output) / sab.clamp(min=1e-30), torch.full_like(x_t, float("nan")))
        return x0, output
    if target == "v":
        return x0, s1ab * x_t + sab * output
    return x0, (x_t - sab * x0) / s1ab


def mean_from(output: torch.Tensor, target: str, x_t: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    r"""The mean :math:`\mu_\theta(x_t, t)` of the reverse step implied by a network ``output`` for ``target``."""
    check_target(target)
    if target in ("mean", "x-prev"):
        return output
    if target == "eps":
        return mean_from_eps(output, x_t, t, alpha_bar)
    x0, _ = x0_eps_from(output, target, x_t, t, alpha_bar)
    return posterior_mean(x0, x_t, t, alpha_bar)


def output_gain(target: str, alpha_bar: torch.Tensor) -> torch.Tensor:
    r""":math:`\partial\mu_\theta/\partial\,\mathrm{output}` for t = 1..T, shape (T,): how far the
    reverse step's mean moves per unit of error in the network's output, pixel by pixel (the
    mean is affine in the output). 1 for ``x-prev`` and ``mean``;
    :math:`-\beta_t/(\sqrt{\alpha_t}\sqrt{1-\bar\alpha_t})` for ``eps`` (NaN where
    :math:`\alpha_t = 0`)."""
    T = len(alpha_bar) - 1
    t = torch.arange(1, T + 1)
    zero = torch.zeros(T, 1, dtype=alpha_bar.dtype)
    return (mean_from(torch.ones_like(zero), target, zero, t, alpha_bar) - mean_from(zero, target, zero, t, alpha_bar)).flatten()
