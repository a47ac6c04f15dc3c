"""The fastest correct numerical path on the machine at hand, for training and for sampling.

Measured on a 2-core AVX2-only AMD EPYC (torch 2.14.1, fp32; the baseline U-Net,
``benchmarks/train_throughput.py`` and ``benchmarks/sampling_rate.py`` give the figures of the
machine they run on):

* the network's activations at batch 256 or 500 (25-50 MB per layer) do not fit in the caches;
  evaluating the same batch in chunks of 64-128 images gives the same numbers (every layer,
  GroupNorm included, acts on each image alone) and about 1.2x the images/s;
* channels-last memory format: about 1.1x; fused AdamW: about 1.04x;
* ``torch.compile`` of the training step: 0.95-0.98x (no gain, a minute of compiling); of the
  sampling network with inductor's weight freezing: about 1.3x over eager channels-last, after
  about 30 s of compiling per input shape;
* bf16 autocast: about 2x where oneDNN has native bf16 (AVX-512 BF16 / AMX), about 10x slower
  where it is emulated (AVX2), so it is used only where native (:func:`.device.autocast_dtype`),
  for training and for sampling (a profile may pin fp32 for both).
* the memory format under bf16 depends on the CPU: channels-last measured 1.17x faster on an
  AMX machine, but on a 2-core AVX-512-BF16 EPYC without AMX GroupNorm's channels-last bf16
  kernel made the U-Net (16, 32, 64) 2.0x slower to train and 2.5x slower to evaluate (the
  (32, 64, 128) one 1.4x and 1.4x; one thread, ``benchmarks/memory_layout.py``). So the layout is measured on the network at hand where
  bf16 runs on the CPU (:func:`faster_layout`), not assumed, once per machine and network
  (:mod:`.measured`): the layout changes bf16's rounding, so a run must not re-time it and
  choose differently the next time.

:class:`TrainPath` and :func:`sampling_model` apply what measured faster; both are recorded
with every result (:func:`describe`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from .device import autocast_dtype
from .measured import machine_key, measured_once

CPU_CHUNK = 64
"""Images per network evaluation on the CPU (training micro-batches and sampling chunks)."""

COMPILE_SAMPLING_MIN_IMAGE_STEPS = 100_000
"""Sampling compiles the network (CPU) from this many image-steps on (samples x network
evaluations): about four minutes of eager sampling on two AVX2 cores, against about 30 s of
compiling. Below it, compiling costs more than it saves."""


@dataclass(frozen=True)
class TrainPath:
    """How a training step is computed; the numbers it gives are the same up to rounding.

    ``channels_last``: memory format of the network and its inputs; ``autocast``: mixed
    precision dtype (None: fp32); ``compile``: ``torch.compile`` the network; ``fused_adamw``:
    the fused AdamW kernel; ``micro_batch``: evaluate the batch in chunks of this many images
    and accumulate the gradients (None: the whole batch at once)."""

    channels_last: bool = False
    autocast: torch.dtype | None = None
    compile: bool = False
    fused_adamw: bool = False
    micro_batch: int | None = None

    def describe(self) -> dict:
        """The path as plain data, for checkpoints and results."""
        d = asdict(self)
        d["autocast"] = str(self.autocast).removeprefix("torch.") if self.autocast else None
        return d


NAIVE = TrainPath()
"""The textbook path: eager fp32, whole batches, NCHW, foreach AdamW."""


def default_train_path(device: torch.device, *, amp: bool | None = None, compile: bool | None = None) -> TrainPath:
    """The fastest correct training path on ``device``: fused AdamW, bf16 autocast where native
    (``amp`` None; True or False forces it) with channels-last (which measured 1.17x there and
    0.98-1.09x in fp32 on AVX2), ``torch.compile`` on CUDA (``compile`` None; on the CPUs
    measured it did not pay), micro-batches of :data:`CPU_CHUNK` on the CPU."""
    dtype = autocast_dtype(device) if amp is None else (torch.bfloat16 if amp else None)
    return TrainPath(
        channels_last=dtype is not None,
        autocast=dtype,
        compile=device.type == "cuda" if compile is None else compile,
        fused_adamw=True,
        micro_batch=CPU_CHUNK if device.type == "cpu" else None,
    )


def faster_layout(run: Callable[[bool], object], repeats: int = 2, *, key: str | None = None) -> tuple[bool, dict[str, float]]:
    """Whether channels-last ran faster than NCHW, and the seconds of each (best of ``repeats``
    calls after one warm-up call): ``run(channels_last)`` does the work to time in that layout
    on throw-away state. With ``key`` (:func:`.measured.machine_key` of the work) the seconds
    are measured once on this machine and read back afterwards (:func:`.measured.measured_once`),
    so the same work always takes the same layout here."""

    def measure() -> dict[str, float]:
        seconds = {}
        for channels_last in (False, True):
            run(channels_last)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                run(channels_last)
                times.append(time.perf_counter() - t0)
            seconds["channels_last" if channels_last else "nchw"] = round(min(times), 4)
        return seconds

    seconds = measured_once("layout", key, measure) if key else measure()
    return seconds["channels_last"] < seconds["nchw"], seconds


class Chunked(torch.nn.Module):
    """``model`` evaluated on chunks of ``size`` images, outputs concatenated; with ``pad`` the
    last chunk is padded (repeating its last image) to ``size``, so that a compiled network sees
    one input shape.
    Exact for networks that treat each image alone (every network here)."""

    def __init__(self, model: torch.nn.Module, size: int, pad: bool = True):
        super().__init__()
        self.model, self.size, self.pad = model, size, pad

    def forward(self, x: torch.Tensor, t: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(0, len(x), self.size):
            parts = [a[i : i + self.size] for a in (x, t, *rest)]
            n = len(parts[0])
            if self.pad and n < self.size:
                parts = [torch.cat([a, a[-1:].expand(self.size - n, *a.shape[1:])]) for a in parts]
            outs.append(self.model(*parts)[:n])
        return torch.cat(outs)


class Autocast(torch.nn.Module):
    """``model`` evaluated under ``torch.autocast(dtype)``, its output returned in float32 (the
    samplers' arithmetic between network evaluations stays in float32)."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        with torch.autocast(args[0].device.type, dtype=self.dtype):
            return self.model(*args).float()


def sampling_model(model: torch.nn.Module, device: torch.device | str, image_steps: int = 0,
                   amp: bool | None = None) -> tuple[torch.nn.Module, dict]:
    """``model`` prepared for fast sampling on ``device`` and a description of what was done.

    CPU: channels-last (under bf16: the faster layout of the two, :func:`faster_layout`, its
    timings recorded as ``layout_probe``), evaluated in chunks of :data:`CPU_CHUNK` images (:class:`Chunked`),
    compiled with inductor's weight freezing when the work is at least
    :data:`COMPILE_SAMPLING_MIN_IMAGE_STEPS` image-steps. CUDA: compiled from the same amount of
    work. The network runs under bf16 autocast (:class:`Autocast`) where it is native (``amp``
    None; True or False forces it). The samplers run it under ``torch.inference_mode``; in fp32
    its outputs equal the eager fp32 network's up to float rounding, in bf16 up to bf16's
    (``tests/test_fastpath.py``)."""
    device = torch.device(device)
    dtype = autocast_dtype(device) if amp is None else (torch.bfloat16 if amp else None)
    model = model.eval().to(device)
    channels_last, layout = True, None
    if device.type == "cpu" and dtype is not None:
        channels_last, layout = _sampling_layout(model, dtype, device)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    if dtype is not None:
        model = Autocast(model, dtype)
    compiled = image_steps >= COMPILE_SAMPLING_MIN_IMAGE_STEPS
    if compiled:
        options = {"freezing": True} if device.type == "cpu" else None
        model = torch.compile(model, dynamic=False, options=options)
    chunk = CPU_CHUNK if device.type == "cpu" else None
    if chunk:
        model = Chunked(model, chunk, pad=compiled)
    precision = str(dtype).removeprefix("torch.") if dtype is not None else "float32"
    described = {"precision": precision, "channels_last": channels_last, "compile": compiled, "chunk": chunk}
    return model, {**described, "layout_probe": layout} if layout else described


def _sampling_layout(model: torch.nn.Module, dtype: torch.dtype, device: torch.device) -> tuple[bool, dict[str, float]]:
    """:func:`faster_layout` of one chunk of :data:`CPU_CHUNK` MNIST-size images through
    ``model`` under ``dtype`` autocast (with labels if it is class-conditional), measured once
    per machine and architecture (its class and parameter shapes)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(CPU_CHUNK, 1, 28, 28, generator=gen).to(device)
    t = torch.full((CPU_CHUNK,), 1, dtype=torch.long, device=device)
    rest = (torch.zeros(CPU_CHUNK, dtype=torch.long, device=device),) if getattr(model, "num_classes", 0) else ()

    def run(channels_last: bool) -> None:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype):
            model.to(memory_format=fmt)(x.contiguous(memory_format=fmt), t, *rest)

    architecture = [type(model).__name__, [[name, list(p.shape)] for name, p in model.state_dict().items()]]
    key = machine_key({"work": "sample", "device": str(device), "dtype": str(dtype), "chunk": CPU_CHUNK,
                       "network": architecture})
    return faster_layout(run, key=key)
