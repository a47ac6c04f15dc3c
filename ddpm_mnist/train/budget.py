"""A training run bounded by wall-clock minutes instead of epochs.

A decaying learning rate needs its horizon (the last step) from the first step on, so a timed
run cannot simply stop when the clock runs out. :func:`probe_step_seconds` times a few
optimisation steps on a throw-away copy of the network and optimiser (the run itself is not
touched, so it stays a pure function of its seed and its number of steps), and
:func:`planned_steps` turns the minutes left into a fixed number of steps; :func:`timed_horizon`
does both for a run of :func:`~.training.train`. The checkpoint records both, and a resumed
run continues to the steps it planned, not to a new estimate.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable

import torch
from torch.optim.swa_utils import AveragedModel

from ..core.spec import DenoiserSpec
from . import checkpoint as ckpt
from .fastpath import TrainPath
from .protocol import make_optimizer
from .step import make_train_step


def probe_step_seconds(step: Callable[[torch.Tensor, torch.Generator], object], x0: torch.Tensor, device: torch.device, *,
                       seconds: float = 3.0, min_steps: int = 3, max_steps: int = 50) -> tuple[float, float]:
    """(first, typical) seconds of ``step(x0, generator)``: the first call alone (warm-up,
    compiling) and the median of the following calls, taken until ``seconds`` have passed
    (at least ``min_steps``, at most ``max_steps``). ``step`` must act on throw-away state."""
    gen = torch.Generator(device=device).manual_seed(0)

    def timed() -> float:
        t0 = time.perf_counter()
        out = step(x0, gen)
        if isinstance(out, torch.Tensor):
            out.item()  # waits for the device
        return time.perf_counter() - t0

    first = timed()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_steps and (len(times) < min_steps or time.perf_counter() - start < seconds):
        times.append(timed())
    return first, sorted(times)[len(times) // 2]


def planned_steps(minutes: float, elapsed_s: float, step_s: float, overhead_s: float = 0.0) -> int:
    """Optimisation steps that fit in what is left of ``minutes`` after ``elapsed_s`` seconds
    and a one-off ``overhead_s`` (the real network's own warm-up or compiling), at ``step_s``
    seconds a step: at least 1."""
    if minutes <= 0:
        raise ValueError(f"minutes must be > 0, got {minutes}")
    if step_s <= 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    return max(1, math.floor((minutes * 60.0 - elapsed_s - overhead_s) / step_s))


def plan_steps(minutes: float, entered: float, first: float, typical: float, overhead_s: float = 0.0) -> tuple[int, dict]:
    """The steps of a run of ``minutes`` that started at ``entered`` (``time.perf_counter()``),
    from a probe's ``first`` and ``typical`` step seconds (:func:`probe_step_seconds`), and the
    record a checkpoint or result keeps of how they were fixed."""
    elapsed = time.perf_counter() - entered
    steps = planned_steps(minutes, elapsed, typical, overhead_s)
    return steps, {"minutes": minutes, "probe_step_s": round(typical, 5), "probe_first_step_s": round(first, 4),
                   "seconds_before_first_step": round(elapsed, 2), "planned_steps": steps}


def timed_horizon(source: str | os.PathLike | None, minutes: float, entered: float, spec: DenoiserSpec, model: torch.nn.Module,
                  ema: AveragedModel | None, path: TrainPath, images: torch.Tensor, labels: torch.Tensor | None, *,
                  optimizer: str, lr: float, weight_decay: float, warmup_steps: int, grad_clip: float | None,
                  p_uncond: float, bs: int, device: torch.device) -> tuple[int, dict]:
    """The number of steps of a run of ``minutes`` and how it was fixed: read from the
    checkpoint ``source`` of an interrupted timed run, else measured now on throw-away copies of
    ``model``, its optimiser and ``ema`` (:func:`probe_step_seconds`), counting the time
    since ``entered`` (``time.perf_counter()``). Returns (steps, the record of :func:`plan_steps`)."""
    if source is not None:
        state = ckpt.read(source, map_location="cpu")
        if "time_budget" not in state:
            raise ckpt.CheckpointError(f"checkpoint {source} is not from a timed run; move it away or train with epochs=")
        return state["settings"]["steps"], state["time_budget"]
    probe = copy.deepcopy(model)
    probe_opt = make_optimizer(probe.parameters(), optimizer, lr, weight_decay, warmup_steps=warmup_steps, fused=path.fused_adamw)
    probe_ema = copy.deepcopy(ema)
    step = make_train_step(spec, probe, probe_opt, path=path, grad_clip=grad_clip, p_uncond=p_uncond)
    y = labels[:bs].to(device) if spec.num_classes else None

    def one(x0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        loss = step(x0, gen, y)
        if probe_ema is not None:
            probe_ema.update_parameters(probe)
        return loss

    first, typical = probe_step_seconds(one, images[:bs].to(device), device)
    overhead = max(0.0, first - typical) if path.compile else 0.0  # the real network compiles in its first step too
    return plan_steps(minutes, entered, first, typical, overhead)
