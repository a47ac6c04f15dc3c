"""One optimisation step of a denoiser: Ho et al. (2020), Algorithm 1 ("Training"), lines 2-5.

:func:`make_train_step` returns the step as a function of a batch and a generator, computed on a
:class:`~ddpm_mnist.train.fastpath.TrainPath` (precision, compile, memory format,
micro-batches); every path gives the same step up to rounding. The loop that repeats it, with
checkpoints and resume, is :func:`ddpm_mnist.train.training.train`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from ..core.losses import get_loss, training_pair
from ..core.spec import DenoiserSpec
from .fastpath import NAIVE, TrainPath


def make_train_step(
    spec: DenoiserSpec,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    *,
    path: TrainPath = NAIVE,
    grad_clip: float | None = 1.0,
    p_uncond: float = 0.1,
) -> Callable[..., torch.Tensor]:
    """One optimisation step as a function ``step(x0, generator) -> loss``: Ho et al. (2020),
    Algorithm 1 ("Training"), with the loss's prediction target in place of :math:`\\epsilon`.

    ``x0``: a batch of clean images (B, C, 28, 28) on the model's device. The step draws
    ``t`` uniformly in 1..T and the noise from ``generator``, builds the loss target of
    ``spec.loss``, and updates ``model`` through ``opt``. ``path``: how the step is computed
    (:class:`~ddpm_mnist.train.fastpath.TrainPath`: mixed precision, compile, channels-last, in
    which case ``model`` must already be channels-last, micro-batches); every path gives the
    same step up to rounding.
    A class-conditional network also takes the labels ``y`` (int64 (B,)), each replaced by
    "no label" with probability ``p_uncond`` (classifier-free guidance training).
    """
    alpha_bar = spec.alpha_bar()
    loss_fn = get_loss(spec.loss)
    forward = torch.compile(model) if path.compile else model
    device_type = next(model.parameters()).device.type

    def step(x0: torch.Tensor, generator: torch.Generator, y: torch.Tensor | None = None) -> torch.Tensor:
        n = len(x0)
        t = torch.randint(1, spec.T + 1, (n,), generator=generator, device=x0.device)
        x_t, target = training_pair(spec.target, x0, t, alpha_bar, generator)
        weight = loss_fn.weight(t, alpha_bar)
        if path.channels_last:
            x_t = x_t.contiguous(memory_format=torch.channels_last)
        args = (x_t, t)
        if spec.num_classes:
            drop = torch.rand(n, generator=generator, device=x0.device) < p_uncond
            args = (x_t, t, torch.where(drop, spec.num_classes, y))
        opt.zero_grad(set_to_none=True)
        size = path.micro_batch or n
        loss = torch.zeros((), device=x0.device)
        for i in range(0, n, size):  # the batch's mean loss, accumulated over micro-batches
            with torch.autocast(device_type, dtype=path.autocast) if path.autocast else contextlib.nullcontext():
                out = forward(*(a[i : i + size] for a in args))
            w = weight[i : i + size] if weight is not None else None
            part = loss_fn(out, target[i : i + size], w) * (len(out) / n)
            part.backward()
            loss += part.detach()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        return loss

    return step
