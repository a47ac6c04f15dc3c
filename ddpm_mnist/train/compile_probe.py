"""Whether ``torch.compile`` pays for a training run on this machine: measured once, cached.

On the CPUs measured, compiling the training step cost about a minute and gained from 0.95x
(AVX2, fp32) to about 1.4x (AMX, bf16): whether it pays depends on the machine, the network,
the precision and the run's length. :func:`compile_timings` measures it on throw-away copies
(a few eager steps, the compile, a few compiled steps) and caches the seconds under a key of
everything they depend on (torch version, CPU capability, threads, network, path, batch), in
``<cache>/compile-probe.json`` (:mod:`.measured`). :func:`compile_pays` then decides for a run of ``steps`` steps:
compile when the time it saves over the run exceeds the compile's cost, and never for runs too
short to recover a compile (``steps`` below :data:`MIN_PROBE_STEPS`: no probe at all).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from . import measured
from .budget import probe_step_seconds
from .fastpath import TrainPath

MIN_PROBE_STEPS = 300
"""Runs shorter than this never compile and never probe (a compile costs about a minute, the
steps of the baseline U-Net a fraction of a second each on the CPU)."""


def probe_file() -> Path:
    return measured.probe_file("compile")


def probe_key(spec_dict: dict, path: TrainPath, batch_size: int, device: torch.device) -> str:
    """What a measured timing depends on, hashed: torch, the machine, the network, the path, the batch."""
    return measured.machine_key({"device": str(device), "spec": spec_dict,
                                 "path": dataclasses.replace(path, compile=False).describe(), "batch": batch_size})


def compile_timings(key: str, make_step: Callable[[TrainPath], Callable], path: TrainPath, x0: torch.Tensor,
                    device: torch.device) -> dict[str, float]:
    """Seconds of one eager step (``eager_s``), one compiled step (``compiled_s``) and of the
    compile itself (``compile_s``: the first compiled step minus a compiled step), cached under
    ``key``. ``make_step(path)`` returns a fresh ``step(x0, generator)`` on throw-away state."""
    def measure() -> dict[str, float]:
        _, eager = probe_step_seconds(make_step(dataclasses.replace(path, compile=False)), x0, device, seconds=2.0)
        first, compiled = probe_step_seconds(make_step(dataclasses.replace(path, compile=True)), x0, device, seconds=2.0)
        return {"eager_s": eager, "compiled_s": compiled, "compile_s": max(0.0, first - compiled)}

    return measured.measured_once("compile", key, measure)


def compile_pays(timings: dict[str, float], steps: int) -> bool:
    """Whether compiling saves more than it costs over ``steps`` steps."""
    return steps >= MIN_PROBE_STEPS and (timings["eager_s"] - timings["compiled_s"]) * steps > timings["compile_s"]

