r"""The optimisation protocol: optimiser, learning-rate schedule and weight averaging.

These decide how well a network is trained at a fixed budget, and so how far apart two seeds
of one configuration land; the book's protocol study (``book/protocol.md``) picks among them.

* :func:`lr_factor`: the learning rate at step ``n`` as a fraction of its peak, a linear
  warm-up over ``warmup_steps`` then ``constant``, ``cosine`` (to 0 at the last step, as in
  Loshchilov & Hutter's SGDR without restarts) or ``linear`` decay.
* :func:`ema_decay_at`: the EMA decay after ``n`` averaged steps, optionally warmed up as
  :math:`\min\big(d, \frac{1+n}{10+n}\big)` (the rule of ``diffusers``' ``EMAModel``), so that an
  average over a short run is not dominated by its random initialisation.
* :func:`make_optimizer`: AdamW, or schedule-free AdamW (Defazio et al. 2024, the ``schedulefree``
  package), whose averaged iterate can be evaluated at any step, so that it needs no horizon.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

LR_SCHEDULES = ("constant", "cosine", "linear")
OPTIMIZERS = ("adamw", "schedulefree")


def check_protocol(optimizer: str, lr_schedule: str, warmup_steps: int) -> None:
    """Raise ``ValueError`` naming the valid choices if the protocol is not one this module knows."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid optimizers: {', '.join(OPTIMIZERS)}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr schedule {lr_schedule!r}; valid schedules: {', '.join(LR_SCHEDULES)}")
    if optimizer == "schedulefree" and lr_schedule != "constant":
        raise ValueError("schedule-free AdamW takes no lr schedule (it needs none): use lr_schedule='constant'")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")


def horizon_free(optimizer: str, lr_schedule: str) -> bool:
    """Whether the run's first ``n`` steps do not depend on its length: then a shorter run is a
    prefix of a longer one, and the runner may score milestones of one run or extend a shorter
    one. True for a constant learning rate (warm-up is counted in steps) and schedule-free AdamW."""
    return lr_schedule == "constant" or optimizer == "schedulefree"


def lr_factor(step: int, total_steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """The learning rate of optimisation step ``step`` (0-based, ``0 <= step < total_steps``) as a
    fraction in (0, 1] of the peak: ``(step + 1) / warmup_steps`` during the warm-up, then 1
    (``constant``), :math:`\\tfrac12(1 + \\cos \\pi p)` (``cosine``) or :math:`1 - p` (``linear``),
    with :math:`p` the fraction of the post-warm-up steps already taken; the decays reach 0 after
    the last step."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    p = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * p))
    if schedule == "linear":
        return 1.0 - p
    raise ValueError(f"unknown lr schedule {schedule!r}; valid schedules: {', '.join(LR_SCHEDULES)}")


def ema_decay_at(n_averaged: int, decay: float, warmup: bool = False) -> float:
    """The EMA decay used for the update after ``n_averaged`` earlier updates: ``decay``, or with
    ``warmup`` :math:`\\min(d, (1+n)/(10+n))`, which starts at 0.1 and reaches ``decay`` = 0.999
    after about 9,000 steps (an average over roughly the last ``n / 9`` steps until then)."""
    return min(decay, (1 + n_averaged) / (10 + n_averaged)) if warmup else decay


def ema_update_fn(decay: float, warmup: bool = False):
    """A ``multi_avg_fn`` for :class:`torch.optim.swa_utils.AveragedModel`: the EMA with
    :func:`ema_decay_at`'s decay, updating the averaged tensors in place."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor | int) -> None:
        d = ema_decay_at(int(num_averaged), decay, warmup)
        torch._foreach_lerp_(averaged, current, 1 - d)

    return update


def make_optimizer(params: Iterable[torch.nn.Parameter], optimizer: str, lr: float, weight_decay: float = 0.0, *,
                   warmup_steps: int = 0, fused: bool = False) -> torch.optim.Optimizer:
    """AdamW (``fused`` kernel when asked; the warm-up is then applied by :func:`lr_factor`), or
    schedule-free AdamW with its own ``warmup_steps``. A schedule-free optimiser must be switched
    with ``.train()`` / ``.eval()`` around training and evaluation (see :func:`evaluation_weights`)."""
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **({"fused": True} if fused else {}))
    if optimizer == "schedulefree":
        try:
            from schedulefree import AdamWScheduleFree
        except ImportError:
            raise ImportError("optimizer='schedulefree' needs the schedulefree package: pip install schedulefree") from None
        opt = AdamWScheduleFree(params, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        opt.train()
        return opt
    raise ValueError(f"unknown optimizer {optimizer!r}; valid optimizers: {', '.join(OPTIMIZERS)}")


def is_schedule_free(opt: torch.optim.Optimizer) -> bool:
    return "train_mode" in opt.param_groups[0]


def evaluation_weights(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor] | None:
    """The weights to sample with when they differ from the training iterate: a schedule-free
    optimiser's averaged point :math:`x_t` (a copy, taken with ``opt.eval()``); None for AdamW. The
    training iterate is then restored bit for bit (``opt.train()`` alone would round it), so that
    taking these weights at a checkpoint does not change the run."""
    if not is_schedule_free(opt):
        return None
    params = [p for group in opt.param_groups for p in group["params"]]
    iterate = [p.detach().clone() for p in params]
    opt.eval()
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt.train()
    with torch.no_grad():
        for p, saved in zip(params, iterate):
            p.copy_(saved)
    return weights
