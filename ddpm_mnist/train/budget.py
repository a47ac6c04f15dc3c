"""A training run bounded by wall-clock minutes instead of epochs.

A decaying learning rate needs its horizon (the last step) from the first step on, so a timed
run cannot simply stop when the clock runs out. :func:`probe_step_seconds` times a few
optimisation steps on a throw-away copy of the network and optimiser (the run itself is not
touched, so it stays a pure function of its seed and its number of steps), and
:func:`planned_steps` turns the minutes left into a fixed number of steps. The checkpoint
records both, and a resumed run continues to the steps it planned, not to a new estimate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch


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
