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

Two losses beyond the report, for the chapter that fixes the ε losses: ``x0-l2`` and ``v-l2``.
Losses are means over every pixel of the batch (``l2``: squared error, ``l1``: absolute error).
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

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss, averaged over all elements."""
        diff = prediction.float() - target.float()
        return diff.abs().mean() if self.norm == "l1" else diff.square().mean()


def _losses() -> dict[str, Loss]:
    out = {}
    for prefix, target in (("mu-tilde", "mean"), ("x-prev", "x-prev"), ("epsilon", "eps")):
        for norm in ("l2", "l1"):
            out[f"{prefix}-{norm}"] = Loss(f"{prefix}-{norm}", target, norm)
    out["x0-l2"] = Loss("x0-l2", "x0", "l2")
    out["v-l2"] = Loss("v-l2", "v", "l2")
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
    return x_t, diffusion.v_from(x0, eps, t, alpha_bar)
