"""The training loop: AdamW (or schedule-free AdamW) with an optional lr schedule, optional EMA
(with an optional warm-up of its decay), optional mixed precision and ``torch.compile``,
atomic checkpoints and exact resume. The protocol's parts are in :mod:`.protocol`, the step
(Ho et al.'s Algorithm 1) in :mod:`.step`, the choice of its numerical path in :mod:`.path_choice`
and a timed run's horizon in :mod:`.budget`.

:func:`train` is three parts: restore (:func:`_restore`, from an interrupted or a shorter
run), the loop (:func:`_loop` over :func:`.step.make_train_step`) and save (:func:`_save`,
atomic checkpoints).

Determinism: the order of the images in epoch ``e`` is a permutation drawn from
``seed`` and ``e`` alone, and the time steps and noise come from one generator whose state
is checkpointed. A run interrupted after any checkpoint and resumed gives the same
weights as an uninterrupted run with the same seed (on the same device and settings).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ..core.spec import DenoiserSpec
from . import checkpoint as ckpt
from .budget import timed_horizon
from .device import resolve_device
from .fastpath import TrainPath
from .measured import describe_machine
from .path_choice import choose_train_path
from .protocol import check_protocol, horizon_free, ema_update_fn, evaluation_weights, is_schedule_free, lr_factor, make_optimizer
from .step import make_train_step


@dataclass
class TrainResult:
    """What a finished :func:`train` call returns."""

    model: torch.nn.Module
    ema_model: torch.nn.Module | None
    losses: list[float]  # one per optimisation step
    steps: int
    images_seen: int
    wall_time_s: float  # training time, summed over the interrupted calls of a resumed run
    resumed_from_step: int = 0
    extended_from_step: int | None = None  # the step of the shorter run this one continued, if any
    epoch_checkpoints: dict[float, str] = field(default_factory=dict)
    numerics: dict = field(default_factory=dict)  # the path its steps took and the machine (last call of a resumed run)
    time_budget: dict | None = None  # a timed run: its minutes, the probed step time and the steps it planned


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The image order of ``epoch``: a permutation of ``range(n)`` fixed by ``(seed, epoch)``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


@dataclass
class _Run:
    """The mutable state of a training run: what a checkpoint saves and :func:`_restore` loads."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    ema: AveragedModel | None
    gen: torch.Generator
    losses: list[float] = field(default_factory=list)
    step: int = 0
    time_before: float = 0.0  # training seconds of the earlier calls of a resumed run
    extended_from: int | None = None
    precision_before: dict[str, int] = field(default_factory=dict)  # steps trained at each precision before this call


def _restore(run: _Run, source: str | os.PathLike, spec: DenoiserSpec, settings: dict, *, extending: bool,
             total_steps: int) -> None:
    """Load the checkpoint ``source`` into ``run``: the same run interrupted, or (``extending``)
    a shorter run whose settings differ from ``settings`` only in its length."""
    state = ckpt.read(source, map_location=run.gen.device)
    theirs = dict(state.get("settings") or {})
    if extending:
        theirs["epochs"] = settings["epochs"]
        if state["step"] > total_steps:
            raise ValueError(f"cannot extend {source}: it ran {state['step']} steps, more than the {total_steps} asked for")
    if state["spec"] != spec.to_dict() or theirs != settings:
        raise ckpt.CheckpointError(
            f"checkpoint {source} was written for another configuration "
            f"({state['spec']}, {state.get('settings')}); move it away or use a fresh output directory"
        )
    ckpt.load_weights(run.model, state["state_dict"], str(source))
    run.opt.load_state_dict(state["optimizer"])
    if run.ema is not None:
        ckpt.load_weights(run.ema.module, state["ema_state_dict"], str(source))
        run.ema.n_averaged.copy_(state["ema_n_averaged"])
    run.gen.set_state(state["generator"].cpu())
    run.losses = list(state["losses"])
    run.step, run.time_before = state["step"], state["train_time_s"]
    run.extended_from = state["step"] if extending else state.get("extended_from_step")
    run.precision_before = state.get("precision_steps") or ({"unrecorded": run.step} if run.step else {})


def _save(path: str | os.PathLike, run: _Run, spec: DenoiserSpec, settings: dict, *, precision: str, resumed_from: int,
          seconds: float, numerics: dict, extra: dict | None = None) -> None:
    """Atomically checkpoint ``run`` at its current step; ``seconds``: training time of this call so far;
    ``numerics``: how this call computes its steps (the path and the machine); ``extra``: further
    entries (a timed run's ``time_budget``, the default ``sampling``)."""
    ckpt.save(
        path, spec, run.model, optimizer=run.opt.state_dict(), step=run.step, settings=settings,
        generator=run.gen.get_state(), losses=run.losses, train_time_s=run.time_before + seconds,
        ema_state_dict=run.ema.module.state_dict() if run.ema else None,
        eval_state_dict=evaluation_weights(run.model, run.opt),
        ema_n_averaged=run.ema.n_averaged.clone() if run.ema else None, extended_from_step=run.extended_from,
        precision_steps={**run.precision_before, precision: run.precision_before.get(precision, 0) + run.step - resumed_from},
        numerics=numerics, **(extra or {}),
    )


def _loop(run: _Run, train_step: Callable[..., torch.Tensor], images: torch.Tensor, labels: torch.Tensor | None, *,
          seed: int, batch_size: int, end: int, after_step: Callable[[int], None], bar: tqdm,
          lr_at: Callable[[int], float] | None = None) -> None:
    """Optimisation steps from ``run.step`` up to ``end``: each epoch visits the images in the
    order :func:`epoch_permutation` fixes (the last partial batch dropped), each step at the
    learning rate ``lr_at(step)`` (None: the optimiser's own), then ``after_step``
    is called with the step just taken (checkpoints)."""
    steps_per_epoch = len(images) // batch_size
    perm, perm_epoch = None, -1
    run.model.train()
    while run.step < end:
        epoch, i = divmod(run.step, steps_per_epoch)
        if epoch != perm_epoch:
            perm, perm_epoch = epoch_permutation(len(images), seed, epoch).to(images.device), epoch
        idx = perm[i * batch_size : (i + 1) * batch_size]
        if lr_at is not None:
            for group in run.opt.param_groups:
                group["lr"] = lr_at(run.step)
        loss = train_step(images[idx], run.gen, labels[idx] if labels is not None else None)
        if run.ema is not None:
            run.ema.update_parameters(run.model)
        run.losses.append(loss.item())
        run.step += 1
        bar.update(1)
        if run.step % 20 == 0:
            bar.set_postfix(loss=f"{sum(run.losses[-20:]) / 20:.4f}")
        after_step(run.step)


def train(
    spec: DenoiserSpec,
    images: torch.Tensor,
    *,
    epochs: float | None = None,
    minutes: float | None = None,
    labels: torch.Tensor | None = None,
    p_uncond: float = 0.1,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    grad_clip: float | None = 1.0,
    optimizer: str = "adamw",
    lr_schedule: str = "constant",
    warmup_steps: int = 0,
    ema_decay: float | None = None,
    ema_warmup: bool = False,
    seed: int = 0,
    device: str | torch.device = "auto",
    amp: bool | None = None,
    compile: bool | None = None,
    path: TrainPath | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 200,
    keep_epochs: Iterable[float] = (),
    extend: str | os.PathLike | None = None,
    stop_after: int | None = None,
    sampling: dict | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a fresh network of ``spec`` on ``images`` (float (N, C, 28, 28) in ``spec.value_range``).

    A class-conditional ``spec`` needs the ``labels`` (int64 (N,)); each is dropped with
    probability ``p_uncond`` (see :func:`.step.make_train_step`).

    The length is ``epochs`` or ``minutes`` (exactly one). One epoch is ``N // batch_size`` steps
    (the last partial batch is dropped; a set smaller than a batch is one step); ``epochs`` may
    be fractional (rounded to whole steps, at least one). ``minutes``: a wall-clock budget,
    counted from this call: a few steps of a throw-away copy are timed and the number of steps
    that fit is fixed before the first real step (:mod:`.budget`), so that a decaying lr knows
    its horizon; the checkpoint records it (``settings["steps"]``, ``time_budget``) and a
    resumed timed run continues to those steps. ``checkpoint_path``: resume from it if it exists and write it every
    ``checkpoint_every`` steps, at each epoch's end and at the end. ``keep_epochs``: also keep
    a copy of the checkpoint after these (possibly fractional) epochs, see :func:`kept_checkpoint`.
    ``extend``: when ``checkpoint_path`` does not exist yet, start from this checkpoint of a
    shorter run with otherwise identical settings (with a horizon-free protocol, see
    :func:`.protocol.horizon_free`, and a data order that depends only on the seed, this equals
    training from scratch; a decaying schedule refuses ``extend`` and ``keep_epochs``). ``path``: how each
    step is computed (:class:`~ddpm_mnist.train.fastpath.TrainPath`); None takes the fastest on
    ``device`` (:func:`.path_choice.choose_train_path`), with bf16 autocast as ``amp`` says
    (None: where native) and ``torch.compile`` as ``compile`` says (None: on CUDA, and on the
    CPU where a cached probe of this machine and network says it pays over the run,
    :mod:`.compile_probe`; runs under 300 steps and timed runs are not probed); under bf16 on
    the CPU the memory format is the one a few throw-away steps measure faster (recorded as
    ``layout_probe``).
    The protocol (:mod:`.protocol`): ``optimizer`` (``adamw`` or ``schedulefree``), the peak
    ``lr`` with its ``lr_schedule`` (``constant``, ``cosine``, ``linear``; decays end at 0 after the
    last step) after a linear warm-up of ``warmup_steps``, an EMA of the weights with ``ema_decay``
    (None: none) and, with ``ema_warmup``, the decay warmed up as min(d, (1+n)/(10+n)). A
    schedule-free run's returned ``model`` holds its averaged (evaluation) weights.
    ``stop_after``: stop after that many steps
    in total (used to test interruption). ``sampling``: how to sample the network by default
    (``{"sampler": name, "options": {...}}``, a recipe's), kept in the checkpoint.
    """
    entered = time.perf_counter()  # a time budget counts from here
    device = resolve_device(device)
    n = len(images)
    if n == 0:
        raise ValueError("no training images")
    if spec.num_classes and (labels is None or labels.shape != (n,)):
        raise ValueError(f"a class-conditional model needs one label per image: labels of shape ({n},)")
    if (epochs is None) == (minutes is None):
        raise ValueError("give the run's length as exactly one of epochs= or minutes=")
    if minutes is not None and (minutes <= 0 or list(keep_epochs) or extend is not None):
        raise ValueError(f"minutes={minutes}: a timed run needs minutes > 0 and takes no keep_epochs or extend "
                         "(its length is only known once its step rate is measured)")
    bs = min(batch_size, n)
    steps_per_epoch = n // bs
    total_steps = steps_for(epochs, steps_per_epoch) if epochs is not None else 0  # a timed run's is fixed below
    if bad := sorted(e for e in keep_epochs if not 0 < e <= epochs):
        raise ValueError(f"keep_epochs {bad} outside (0, {epochs}]")
    milestones: dict[int, list[float]] = {}
    for e in keep_epochs:
        milestones.setdefault(steps_for(e, steps_per_epoch), []).append(e)
    check_protocol(optimizer, lr_schedule, warmup_steps)
    if not horizon_free(optimizer, lr_schedule) and (extend is not None or list(keep_epochs)):
        raise ValueError(f"lr_schedule={lr_schedule!r} depends on the run's length: its shorter runs are not prefixes of it, "
                         "so it cannot keep epoch milestones or extend a shorter run (train each length on its own)")
    settings = {"epochs": epochs, "batch_size": bs, "lr": lr, "weight_decay": weight_decay, "grad_clip": grad_clip,
                "ema_decay": ema_decay, "seed": seed, "n_images": n}
    protocol = {"optimizer": optimizer, "lr_schedule": lr_schedule, "warmup_steps": warmup_steps, "ema_warmup": ema_warmup}
    defaults = {"optimizer": "adamw", "lr_schedule": "constant", "warmup_steps": 0, "ema_warmup": False}
    settings.update({k: v for k, v in protocol.items() if v != defaults[k]})  # older checkpoints stay valid
    if spec.num_classes:
        settings["p_uncond"] = p_uncond

    protocol_args = dict(optimizer=optimizer, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, grad_clip=grad_clip,
                         p_uncond=p_uncond)
    probed, layout = None, None
    if path is None:
        path, probed, layout = choose_train_path(spec, images, labels, bs, device, amp=amp, compile=compile,
                                                 total_steps=total_steps, timed=minutes is not None, **protocol_args)
    torch.manual_seed(seed)  # the initial weights (after any probe, which draws its own)
    model = spec.build().to(device)
    if path.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model.parameters(), optimizer, lr, weight_decay, warmup_steps=warmup_steps, fused=path.fused_adamw)
    run = _Run(model, opt,
               AveragedModel(model, multi_avg_fn=ema_update_fn(ema_decay, ema_warmup), use_buffers=True) if ema_decay else None,
               torch.Generator(device=device).manual_seed(seed))
    source = checkpoint_path if checkpoint_path is not None and Path(checkpoint_path).exists() else extend
    budget = None
    if minutes is not None:
        total_steps, budget = timed_horizon(source, minutes, entered, spec, model, run.ema, path, images, labels, bs=bs,
                                            device=device, **protocol_args)
        settings.update(minutes=minutes, steps=total_steps)
    if source is not None:
        _restore(run, source, spec, settings, extending=source == extend, total_steps=total_steps)
    resumed_from = run.step

    precision = str(path.autocast or torch.float32).removeprefix("torch.")
    images = images.to(device)
    labels = labels.to(device) if spec.num_classes else None
    train_step = make_train_step(spec, model, run.opt, path=path, grad_clip=grad_clip, p_uncond=p_uncond)
    start = time.perf_counter()
    end = total_steps if stop_after is None else min(total_steps, stop_after)

    numerics = {**path.describe(), **describe_machine(), **({"compile_probe": probed} if probed else {}),
                **({"layout_probe": layout} if layout else {})}

    def save(out: str | os.PathLike) -> None:
        _save(out, run, spec, settings, precision=precision, resumed_from=resumed_from, seconds=time.perf_counter() - start,
              numerics=numerics, extra={k: v for k, v in {"time_budget": budget, "sampling": sampling}.items() if v})

    def after_step(step: int) -> None:
        if checkpoint_path is None:
            return
        for e in milestones.get(step, []):
            save(kept_checkpoint(checkpoint_path, e))
        if step % checkpoint_every == 0 or step == end or step % steps_per_epoch == 0:
            save(checkpoint_path)

    with tqdm(total=total_steps, initial=run.step, desc=f"train {spec.model}", disable=not progress, unit="step") as bar:
        lr_at = None if optimizer == "schedulefree" else (lambda step: lr * lr_factor(step, total_steps, lr_schedule, warmup_steps))
        _loop(run, train_step, images, labels, seed=seed, batch_size=bs, end=end, after_step=after_step, bar=bar, lr_at=lr_at)
    if checkpoint_path is not None and not Path(checkpoint_path).exists():
        save(checkpoint_path)  # extended from a run that already had every step asked for
    if is_schedule_free(run.opt):
        run.opt.eval()  # the model now holds the averaged iterate, the one to sample with
    kept = {e: str(kept_checkpoint(checkpoint_path, e)) for es in milestones.values() for e in es
            if checkpoint_path is not None and kept_checkpoint(checkpoint_path, e).exists()}
    return TrainResult(model, run.ema.module if run.ema else None, run.losses, run.step, run.step * bs,
                       run.time_before + time.perf_counter() - start, resumed_from, run.extended_from, kept, numerics, budget)


def steps_for(epochs: float, steps_per_epoch: int) -> int:
    """Optimisation steps in ``epochs`` (possibly fractional) epochs: at least one."""
    return max(1, round(epochs * steps_per_epoch))


def kept_checkpoint(checkpoint_path: str | os.PathLike, epoch: float) -> Path:
    """Where :func:`train` keeps the checkpoint of ``epoch``: ``<checkpoint>.epoch<E>.pt``."""
    return Path(f"{checkpoint_path}.epoch{epoch:g}.pt")
