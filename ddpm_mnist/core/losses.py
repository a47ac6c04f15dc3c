r"""Training losses: a prediction target and a norm.

The report's six losses (its section 4.3.3) are ``{mu-tilde, x-prev, epsilon} x {l2, l1}``.
Its printed formulas for ``mu-tilde`` and ``x-prev`` are identical; here they differ as
follows.

``mu-tilde``
    target :math:`\tilde\mu_t(x_t, x_0)`, the mean of :math:`q(x_{t-1}\mid x_t, x_0)`: a
    deterministic function of :math:`(x_t, x_0)`.
``x-prev``
    target :math:`x_{t-1}` drawn from the forward chain: :math:`x_{t-1} \sim q(x_{t-1}\mid x_0)`,
    then :math:`x_t = \sqrt{\alpha_t}x_{t-1} + \sqrt{\beta_t}\epsilon_t`. This is a *sample* of
    :math:`q(x_{t-1}\mid x_t, x_0)`, i.e. :math:`\tilde\mu_t + \sqrt{\tilde\beta_t}z`: a noisier
    target. Under L2 the minimiser is the same (the conditional mean); under L1 it is the
    conditional median, which differs.
``epsilon``
    target :math:`\epsilon`; the sampler turns the prediction into a mean through
    :func:`ddpm_mnist.core.diffusion.mean_from_eps`, which is undefined where :math:`\alpha_t = 0`.

Two losses beyond the report, for the chapter that fixes the ε losses: ``x0-l2`` and ``v-l2``;
and ``edm-l2``, Karras et al.'s (2022) preconditioned target with their loss weighting (an
unweighted L2 loss on :math:`F`, see :func:`ddpm_mnist.core.diffusion.edm_coefficients`).
Losses are means over every pixel of the batch (``l2``: squared error, ``l1``: absolute error).

**Min-SNR-γ weighting** (Hang et al., 2023, "Efficient Diffusion Training via Min-SNR Weighting
Strategy", eq. 5): ``epsilon-l2-min-snr5``, ``x0-l2-min-snr5`` and ``v-l2-min-snr5`` weight each
image's squared error so that, expressed as an error on :math:`x_0`, step t counts
:math:`\min(\mathrm{SNR}_t, \gamma)` with :math:`\gamma = 5`: the nearly clean steps, whose
:math:`x_0` error is cheap to reduce and would dominate an x0 loss, are capped
(:func:`min_snr_weight`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import diffusion


@dataclass(frozen=True)
class Loss:
    """A named loss: the network's prediction ``target`` (see :mod:`ddpm_mnist.core.diffusion`) and ``norm``."""

    name: str
    target: str
    norm: str  # "l1" or "l2"
    min_snr_gamma: float | None = None  # the γ of Min-SNR-γ weighting, None for an unweighted loss

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss: the mean over all elements, or with ``weight`` (B,) the mean over images of
        each image's mean error times its weight."""
        diff = prediction.float() - target.float()
        error = diff.abs() if self.norm == "l1" else diff.square()
        if weight is None:
            return error.mean()
        return (error.flatten(1).mean(1) * weight.to(error.dtype)).mean()

    def weight(self, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor | None:
        """Per-image weights (B,) for the steps ``t`` (int64 (B,) in 1..T), None for an unweighted loss."""
        if self.min_snr_gamma is None:
            return None
        return min_snr_weight(self.target, t, alpha_bar, self.min_snr_gamma)


def min_snr_weight(target: str, t: torch.Tensor, alpha_bar: torch.Tensor, gamma: float) -> torch.Tensor:
    r"""Min-SNR-γ weights (Hang et al., 2023, eq. 5) for a squared-error loss on ``target``.

    Written as an error on :math:`x_0`, each target's squared error is a multiple of
    :math:`\|x_0 - \hat x_0\|^2`: 1 for ``x0``, :math:`1/\mathrm{SNR}_t` for ``eps`` and
    :math:`1/(\mathrm{SNR}_t + 1)` for ``v``, with :math:`\mathrm{SNR}_t = \bar\alpha_t/(1-\bar\alpha_t)`.
    The weight makes the x0-space weight :math:`\min(\mathrm{SNR}_t, \gamma)`: returns
    :math:`\min(\mathrm{SNR}_t,\gamma)`, :math:`\min(1, \gamma/\mathrm{SNR}_t)` or
    :math:`\min(\mathrm{SNR}_t,\gamma)/(\mathrm{SNR}_t+1)`, float32 of shape (B,) on the device of ``t``.
    ``t``: int64 (B,) in 1..T; ``alpha_bar``: (T+1,).
    """
    if gamma <= 0:
        raise ValueError(f"min-SNR gamma must be positive, got {gamma!r}")
    snr = (alpha_bar / (1 - alpha_bar)).to(t.device)[t]
    capped = snr.clamp(max=gamma)
    if target == "x0":
        w = capped
    elif target == "eps":
        w = (gamma / snr).clamp(max=1.0)  # min(SNR, γ)/SNR without dividing 0 by 0 where SNR = 0
    elif target == "v":
        w = capped / (snr + 1)
    else:
        raise ValueError(f"min-SNR weighting is defined for the eps, x0 and v targets, not {target!r}")
    return w.float()


def _losses() -> dict[str, Loss]:
    out = {}
    for prefix, target in (("mu-tilde", "mean"), ("x-prev", "x-prev"), ("epsilon", "eps")):
        for norm in ("l2", "l1"):
            out[f"{prefix}-{norm}"] = Loss(f"{prefix}-{norm}", target, norm)
    out["x0-l2"] = Loss("x0-l2", "x0", "l2")
    out["v-l2"] = Loss("v-l2", "v", "l2")
    out["edm-l2"] = Loss("edm-l2", "edm", "l2")
    for prefix, target in (("epsilon", "eps"), ("x0", "x0"), ("v", "v")):
        out[f"{prefix}-l2-min-snr5"] = Loss(f"{prefix}-l2-min-snr5", target, "l2", min_snr_gamma=5.0)
    return out


LOSSES: dict[str, Loss] = _losses()
REPORT_LOSSES = ("mu-tilde-l2", "mu-tilde-l1", "x-prev-l2", "x-prev-l1", "epsilon-l2", "epsilon-l1")


def get_loss(name: str) -> Loss:
    """The loss called ``name``, or a ValueError listing the valid names."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(LOSSES)}") from None


def training_pair(
    target: str, x0: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw the network input :math:`x_t` and the regression target for a batch.

    ``x0``: clean images (B, C, H, W); ``t``: int64 (B,) in 1..T. Returns ``(x_t, target)``,
    both shaped like ``x0``. Noise comes from ``generator`` (on the device of ``x0``).
    """
    diffusion.check_target(target)

    def noise() -> torch.Tensor:
        return torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)

    if target == "x-prev":
        x_prev = diffusion.q_sample(x0, t - 1, noise(), alpha_bar)
        return diffusion.q_step(x_prev, t, noise(), alpha_bar), x_prev
    eps = noise()
    x_t = diffusion.q_sample(x0, t, eps, alpha_bar)
    if target == "mean":
        return x_t, diffusion.posterior_mean(x0, x_t, t, alpha_bar)
    if target == "eps":
        return x_t, eps
    if target == "x0":
        return x_t, x0
    if target == "edm":
        _, c_skip, c_out = diffusion.edm_coefficients(alpha_bar)
        return x_t, (x0 - diffusion._at(c_skip, t, x0) * x_t) / diffusion._at(c_out, t, x0)
    return x_t, diffusion.v_from(x0, eps, t, alpha_bar)
