"""The training path a run takes on this machine: :func:`~.fastpath.default_train_path`, with the
memory format and the compile decision measured on throw-away copies of the run's step.

Under bf16 on the CPU, channels-last is faster on some CPUs and much slower on others
(:mod:`.fastpath`), so :func:`probe_layout` times both; ``torch.compile`` pays on some machines
and networks and not on others, so :func:`probe_compile` times it for runs long enough to
recover a compile (:mod:`.compile_probe`). Both measurements are kept per machine and network
(:mod:`.measured`), so that a resumed run takes the path it started on. The probes build their
own networks and optimisers and leave the run's random state alone: a run is the same function
of its seed whatever they measure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from ..core.spec import DenoiserSpec
from .compile_probe import MIN_PROBE_STEPS, compile_pays, compile_timings, probe_key
from .fastpath import TrainPath, default_train_path, faster_layout
from .measured import machine_key
from .protocol import make_optimizer
from .step import make_train_step


def choose_train_path(spec: DenoiserSpec, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                      device: torch.device, *, amp: bool | None, compile: bool | None, total_steps: int, timed: bool,
                      **protocol) -> tuple[TrainPath, dict[str, float] | None, dict[str, float] | None]:
    """The path of a run of ``total_steps`` steps of ``spec`` on ``images`` (float (N, C, 28, 28))
    in batches of ``batch_size``: the default on ``device`` with bf16 autocast as ``amp`` says
    (None: where native); under CPU autocast, the faster memory format; with ``compile`` None, on
    the CPU, compiled when the probe says it pays over the run (not probed for ``timed`` runs or
    runs under :data:`~.compile_probe.MIN_PROBE_STEPS` steps). ``protocol``: the run's
    ``optimizer``, ``lr``, ``weight_decay``, ``warmup_steps``, ``grad_clip`` and ``p_uncond``.

    Returns (path, compile timings or None, layout timings or None); the timings are recorded
    with the run (``compile_probe``, ``layout_probe``)."""
    path = default_train_path(device, amp=amp, compile=compile)
    probed, layout = None, None
    if device.type == "cpu" and path.autocast is not None:
        channels_last, layout = probe_layout(spec, path, images, labels, batch_size, device, **protocol)
        path = dataclasses.replace(path, channels_last=channels_last)
    if compile is None and device.type == "cpu" and not timed and total_steps >= MIN_PROBE_STEPS:
        probed = probe_compile(spec, path, images, labels, batch_size, device, **protocol)
        path = dataclasses.replace(path, compile=compile_pays(probed, total_steps))
    return path, probed, layout


def throwaway_steps(spec: DenoiserSpec, labels: torch.Tensor | None, batch_size: int, device: torch.device, *,
                    optimizer: str, lr: float, weight_decay: float, warmup_steps: int, grad_clip: float | None,
                    p_uncond: float) -> Callable[[TrainPath], Callable[[torch.Tensor, torch.Generator], torch.Tensor]]:
    """A maker of the run's training step, ``make(path)(x0, generator) -> loss``, on a fresh
    throw-away network and optimiser that follow ``path``."""
    y = labels[:batch_size].to(device) if spec.num_classes else None

    def make_step(p: TrainPath) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
        net = spec.build().to(device)
        if p.channels_last:
            net = net.to(memory_format=torch.channels_last)
        opt = make_optimizer(net.parameters(), optimizer, lr, weight_decay, warmup_steps=warmup_steps, fused=p.fused_adamw)
        step = make_train_step(spec, net, opt, path=p, grad_clip=grad_clip, p_uncond=p_uncond)
        return lambda x0, gen: step(x0, gen, y)

    return make_step


def probe_compile(spec: DenoiserSpec, path: TrainPath, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                  device: torch.device, **protocol) -> dict[str, float]:
    """:func:`.compile_probe.compile_timings` of the run's step (kept per machine and network),
    on throw-away networks and optimisers."""
    make_step = throwaway_steps(spec, labels, batch_size, device, **protocol)
    return compile_timings(probe_key(spec.to_dict(), path, batch_size, device), make_step, path,
                           images[:batch_size].to(device), device)


def probe_layout(spec: DenoiserSpec, path: TrainPath, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                 device: torch.device, **protocol) -> tuple[bool, dict[str, float]]:
    """Whether the run's step is faster channels-last than NCHW on this machine
    (:func:`.fastpath.faster_layout`, a few steps of each on throw-away networks; measured once
    per machine, network, path, batch and optimiser), and the seconds of each."""
    key = machine_key({"work": "train", "device": str(device), "spec": spec.to_dict(), "batch": batch_size, **protocol,
                       "path": dataclasses.replace(path, channels_last=False, compile=False).describe()})
    make_step = throwaway_steps(spec, labels, batch_size, device, **protocol)
    steps = {cl: make_step(dataclasses.replace(path, channels_last=cl)) for cl in (False, True)}
    x0, gen = images[:batch_size].to(device), torch.Generator(device=device).manual_seed(0)
    return faster_layout(lambda channels_last: steps[channels_last](x0, gen).item(), key=key)
