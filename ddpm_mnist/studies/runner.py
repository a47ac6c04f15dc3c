"""Reproducible, cached runs (train -> sample -> score) and one-parameter studies.

* :class:`RunConfig` holds every hyperparameter and budget field of a run; its
  :meth:`~RunConfig.hash` (12 hex digits of a SHA-256 of its JSON) names the run.
* :func:`run` trains, samples and scores one config, writing
  ``<results_dir>/runs/<hash>/result.json``, ``samples.npy`` (the first 100 uint8 samples,
  for figures) and ``all-samples.npz`` (every scored sample, compressed, so that later metrics
  can be computed from them) atomically; a finished run is loaded instead of recomputed, an interrupted one resumes
  from ``<results_dir>/checkpoints/<hash>.pt``.
* :func:`study` runs one of :data:`~ddpm_mnist.studies.registry.ALL_STUDIES` at a profile
  (:data:`~ddpm_mnist.studies.profiles.PROFILES`) over seeds and returns a pandas table with the
  report's FID beside ours.
"""

from __future__ import annotations

import json
import subprocess
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..core.models import count_parameters
from ..core.ranges import to_uint8
from ..core.sampling import class_labels, sample
from ..data import load_mnist
from ..eval import classifier, metrics
from ..eval.quality import class_kl
from ..io import exclusive, save_npy, save_npz, write_json
from ..train import checkpoint as ckpt
from ..train.device import resolve_device
from ..train.fastpath import sampling_model
from ..train.measured import describe_machine
from ..train.training import train
from .config import RunConfig
from .profiles import Profile, get_profile, results_dir_for
from .registry import get_study
from .study import Study

RESULT_FORMAT = "ddpm-mnist/result"
QUALITY_METRICS = ("precision", "recall", "kid", "class_kl")
"""Metrics stored beside the FID since the measuring instrument was rebuilt (NaN in older results)."""
N_FIGURE_SAMPLES = 100
ALL_SAMPLES = "all-samples.npz"


# ---------------------------------------------------------------------------------------
# one run


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit of the working tree when available (``.dirty`` if
    ``ddpm_mnist/`` is modified), read once per process, at the first call: the code a process
    runs is the code it imported when it started, whatever is committed while it runs (a
    result written after a later commit must not name that commit). Scripts call it first."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "ddpm_mnist"], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{sha}{'.dirty' if dirty else ''}" if sha else __version__


class DirtyTreeError(RuntimeError):
    """Results would be computed from code that no commit names."""


def committed_code_version(allow_dirty: bool = False) -> str:
    """:func:`code_version`, refusing (:class:`DirtyTreeError`) when ``ddpm_mnist/`` has
    uncommitted changes, unless ``allow_dirty`` (results then say ``.dirty`` and are not
    published). The scripts that compute published results call it before anything else."""
    version = code_version()
    if version.endswith(".dirty") and not allow_dirty:
        raise DirtyTreeError(f"ddpm_mnist/ has uncommitted changes ({version}): commit them first, so that every result "
                             "names the code that computed it (or pass --allow-dirty for results that will not be published)")
    return version


def run_dir(config: RunConfig, results_dir: str | Path) -> Path:
    return Path(results_dir) / "runs" / config.hash()


def checkpoint_path(config: RunConfig, results_dir: str | Path) -> Path:
    """The training checkpoint, shared by configs that differ only in sampling and scoring."""
    return Path(results_dir) / "checkpoints" / f"{config.train_hash()}.pt"


class CorruptResultError(RuntimeError):
    """A result on disk is unreadable or incomplete."""


def load_result(config: RunConfig, results_dir: str | Path) -> dict[str, Any] | None:
    """The stored result of ``config`` (with ``samples``: uint8 (100, 28, 28)), None if there is none.

    Raises :class:`CorruptResultError` for a truncated or inconsistent result."""
    d = run_dir(config, results_dir)
    path = d / "result.json"
    if not path.exists():
        return None
    try:
        result = json.loads(path.read_text())
        if result.get("format") != RESULT_FORMAT or result["hash"] != config.hash() or "fid" not in result["metrics"]:
            raise ValueError("missing fields or another config's hash")
        result["samples"] = np.load(d / "samples.npy")
    except (ValueError, KeyError, OSError) as exc:
        raise CorruptResultError(f"result {d} is corrupt ({exc})") from None
    return result


def _loss_curve(losses: Sequence[float], points: int = 200) -> list[list[float]]:
    """Mean loss over ``points`` equal chunks of the steps: [[last step of chunk, mean loss], ...]."""
    n = len(losses)
    if n == 0:
        return []
    edges = np.linspace(0, n, min(points, n) + 1).round().astype(int)
    return [[int(b), float(np.mean(losses[a:b]))] for a, b in zip(edges[:-1], edges[1:])]


def draw_samples(config: RunConfig, model: torch.nn.Module, n: int, device: torch.device | str = "cpu",
                 labels: torch.Tensor | None = None, progress: bool = False) -> torch.Tensor:
    """``n`` samples of ``model`` with the registered sampler a run's ``config`` names and its
    options (:attr:`RunConfig.sampler_options`), its sampling seed and guidance scale. Steps a
    model's target cannot take give NaN samples instead of an error (the report's ε runs are
    scored as it ran them). Returns shape (n, C, H, W) in the model's value range."""
    spec = config.spec
    return sample(config.sampler, model, spec.alpha_bar(), spec.target, n, options=config.sampler_options,
                  seed=config.sampling_seed, device=device, progress=progress, labels=labels, guidance=config.guidance,
                  allow_undefined=True)


def _sample_and_score(config: RunConfig, model: torch.nn.Module, device: torch.device, progress: bool,
                      amp: bool | None = None) -> tuple[dict, np.ndarray]:
    spec = config.spec
    labels = class_labels(config.n_samples, spec.num_classes) if spec.num_classes else None
    t0 = time.perf_counter()  # compiling, when the fast path compiles, counts as sampling time
    image_steps = config.n_samples * config.evaluations * (2 if config.guidance else 1)
    fast, sampling_path = sampling_model(model, device, image_steps, amp=amp)  # the profile's precision, else the fastest
    x = draw_samples(config, fast, config.n_samples, device, labels, progress)
    sample_time = time.perf_counter() - t0
    nonfinite = float((~torch.isfinite(x)).flatten(1).any(1).float().mean())
    images = to_uint8(x, spec.value_range)
    t0 = time.perf_counter()
    feature_metrics = metrics.score(images, reference=config.fid_reference, features=config.fid_features, device=str(device),
                                    dataset=config.dataset)
    digits = classifier.digit_summary(images, labels, config.dataset)
    scored = {
        **feature_metrics,  # fid, precision, recall, kid, kid_std
        "class_kl": class_kl(digits["histogram"]),
        "features": config.fid_features,
        "reference": config.fid_reference,
        "n_samples": config.n_samples,
        "nonfinite_fraction": nonfinite,
        "digits": digits,
        "sample_time_s": round(sample_time, 2),
        "sampling_path": sampling_path,
        "score_time_s": round(time.perf_counter() - t0, 2),
    }
    return scored, images[:, 0].numpy()


def _write_result(config, results_dir, *, profile, device, train_info, scored, samples, parameters) -> dict:
    d = run_dir(config, results_dir)
    result = {
        "format": RESULT_FORMAT,
        "hash": config.hash(),
        "config": config.to_dict(),
        "profile": profile,
        "seed": config.seed,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads",
        "code_version": code_version(),
        "torch": torch.__version__,
        "machine": describe_machine(),  # threads, CPU capability, native bf16 of the process that sampled and scored
        "parameters": parameters,
        "train": train_info,
        "metrics": scored,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_npy(d / "samples.npy", samples[:N_FIGURE_SAMPLES])
    save_npz(d / ALL_SAMPLES, samples=samples)
    write_json(d / "result.json", result)  # written last: its presence marks the run finished
    return {**result, "samples": samples[:N_FIGURE_SAMPLES]}


def run(
    config: RunConfig,
    results_dir: str | Path,
    *,
    device: str = "auto",
    profile: str | None = None,
    fresh: bool = False,
    milestones: Iterable[float] = (),
    compile: bool | None = None,
    progress: bool = True,
    wait: bool = True,
) -> dict[str, Any]:
    """Train, sample and score ``config`` unless its result is already in ``results_dir``.

    ``milestones``: further (smaller) epoch counts to score from the same training run; each
    is stored as the result of ``config`` with that many epochs (identical to training it on
    its own: the learning rate is constant and the data order depends only on the seed).
    ``compile``: ``torch.compile`` the network (default: on CUDA only; on the 2-core AVX2 CPU
    this project is developed on it gives no speed-up, see ``benchmarks/train_throughput.py``).
    ``wait``: while another process trains the same network (the lock beside its checkpoint),
    wait for it (then reuse what it stored), or with False raise :class:`~ddpm_mnist.io.LockedError`.
    Returns the result of ``config`` (a dict, with ``samples``)."""
    milestones = sorted(set(milestones) - {config.epochs})
    if milestones and not config.horizon_free:
        raise ValueError(f"{config.lr_schedule!r} lr schedule: a run's milestones are not shorter runs; train each length on its own")
    targets = [config.with_param("epochs", e) for e in milestones] + [config]
    done = {c.hash(): None for c in targets} if fresh else _stored(targets, results_dir)
    if all(done.values()):
        return done[config.hash()]
    ck = checkpoint_path(config, results_dir)
    with exclusive(ck.with_suffix(".lock"), wait=wait):
        if not fresh:  # another process may have finished it while we waited
            done = _stored(targets, results_dir)
            if all(done.values()):
                return done[config.hash()]
        return _train_and_score(config, results_dir, ck, targets, milestones, done, device=device, profile=profile,
                                fresh=fresh, compile=compile, progress=progress)


def _stored(targets: list[RunConfig], results_dir: str | Path) -> dict[str, dict[str, Any] | None]:
    """The stored result of each config (None where missing or corrupt, with a warning), by hash."""
    done = {}
    for c in targets:
        try:
            done[c.hash()] = load_result(c, results_dir)
        except CorruptResultError as exc:
            warnings.warn(f"{exc}; recomputing it", stacklevel=3)
            done[c.hash()] = None
    return done


def _train_and_score(config: RunConfig, results_dir: str | Path, ck: Path, targets: list[RunConfig], milestones: list[float],
                     done: dict[str, Any], *, device: str, profile: str | None, fresh: bool, compile: bool | None,
                     progress: bool) -> dict[str, Any]:
    """The body of :func:`run`, under the lock of checkpoint ``ck``: train (or resume), then sample
    and score every target not in ``done``."""
    dev = resolve_device(device)
    if fresh:
        ck.unlink(missing_ok=True)
    needed = [c.epochs for c in targets if not done.get(c.hash())]
    extend = None if fresh or ck.exists() else shorter_checkpoint(config, results_dir, up_to=min(needed))
    milestones = [e for e in milestones if extend is None or e > extend[1]]
    images, labels = load_mnist(train=True, value_range=config.value_range, subset=config.train_subset, seed=0, with_labels=True,
                                dataset=config.dataset)
    amp = get_profile(profile).amp if profile else None  # a profile may pin the precision (the cpu profile: fp32)
    if compile is None and profile:
        compile = get_profile(profile).compile  # ... and whether to compile (the cpu profile: eager)
    result = train(
        config.spec, images, labels=labels, p_uncond=config.p_uncond, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, grad_clip=config.grad_clip,
        optimizer=config.optimizer, lr_schedule=config.lr_schedule, warmup_steps=config.warmup_steps,
        ema_decay=config.ema_decay, ema_warmup=config.ema_warmup, seed=config.seed, device=dev, amp=amp, compile=compile,
        checkpoint_path=ck, keep_epochs=milestones, extend=extend and extend[0], progress=progress,
    )
    final = None
    for c in targets:
        if done.get(c.hash()):
            continue
        if c is not config and c.epochs not in result.epoch_checkpoints:
            # the run was already past this milestone, with no copy kept (it was trained for
            # another config sharing the network): train the milestone on its own
            run(c, results_dir, device=device, profile=profile, compile=compile, progress=progress)
            continue
        source = ck if c is config else Path(result.epoch_checkpoints[c.epochs])
        state = ckpt.read(source)
        model, _ = ckpt.denoiser_from(state, ema=config.ema_decay is not None and c.use_ema, device=dev, source=str(source))
        losses = state["losses"]
        train_info = {
            "steps": state["step"],
            "images_seen": state["step"] * min(config.batch_size, len(images)),
            "epochs": c.epochs,
            "wall_time_s": round(state["train_time_s"], 2),
            "final_loss": float(np.mean(losses[-50:])) if losses else None,
            "loss_curve": _loss_curve(losses),
            "train_images": len(images),
            "extended_from_step": state.get("extended_from_step"),  # continued a shorter run; wall_time_s includes it
            "precision_steps": state.get("precision_steps"),  # steps trained in float32 / under bfloat16 autocast
            "numerics": state.get("numerics"),  # the training path (precision, compile, channels-last, micro-batch), threads, CPU
        }
        scored, samples = _sample_and_score(c, model, dev, progress, amp=amp)
        out = _write_result(c, results_dir, profile=profile, device=dev, train_info=train_info, scored=scored, samples=samples,
                            parameters=count_parameters(model))
        if c is config:
            final = out
    return final if final is not None else load_result(config, results_dir)


def trajectory(config: RunConfig) -> str:
    """A key shared by the configs of one training trajectory: those that differ from ``config``
    at most in their length (``epochs``) and in how they are sampled and scored, so that a
    shorter one may be a milestone of a longer one or be continued by it (:func:`shorter_checkpoint`)."""
    return config.with_param("epochs", 1.0).train_hash()


def shorter_checkpoint(config: RunConfig, results_dir: str | Path, up_to: float) -> tuple[Path, float] | None:
    """The final checkpoint of the longest finished run that is ``config`` trained for fewer
    epochs (at most ``up_to``), and its epochs; None if there is none. Training continues from
    it instead of from scratch (see ``extend`` of :func:`ddpm_mnist.train.training.train`)."""
    best = None
    if not config.horizon_free:
        return None
    for path in (Path(results_dir) / "runs").glob("*/result.json"):
        try:
            other = RunConfig.from_dict(json.loads(path.read_text())["config"])
        except (ValueError, KeyError, TypeError, OSError):
            continue
        e = other.epochs
        if e < config.epochs and e <= up_to and other.with_param("epochs", config.epochs).train_hash() == config.train_hash():
            ck = checkpoint_path(other, results_dir)
            if ck.exists() and (best is None or e > best[1]):
                best = (ck, e)
    return best


# ---------------------------------------------------------------------------------------
# studies


@dataclass(frozen=True)
class PlannedRun:
    """One training run of a study: the config to train and the smaller epoch counts
    (milestones) also scored from it."""

    config: RunConfig
    milestones: tuple[float, ...] = ()


def study_configs(study: Study, profile: Profile, seeds: Sequence[int], values: Sequence[Any] | None = None) -> list[tuple[Any, int, RunConfig]]:
    """(value, seed, config) for every cell of ``study`` at ``profile`` (or only ``values``)."""
    out = []
    for value in _values(study, values):
        for seed in seeds:
            config = profile.study_config(study, value).with_param("seed", seed)
            out.append((value, seed, config))
    return out


def _values(study: Study, values: Sequence[Any] | None) -> tuple[Any, ...]:
    if values is None:
        return study.values
    unknown = [v for v in values if v not in study.values]
    if unknown:
        raise ValueError(f"{unknown} not among the values of study {study.name!r}: {list(study.values)}")
    return tuple(values)


def plan(study: Study, profile: Profile, seeds: Sequence[int], values: Sequence[Any] | None = None) -> list[PlannedRun]:
    """The training runs a study needs. The epochs study is one run per seed, scored at each
    milestone, when its protocol is horizon-free (:attr:`RunConfig.horizon_free`); identical configs (e.g. a value equal to the base) are trained once."""
    cells = study_configs(study, profile, seeds, values)
    if study.param == "epochs" and all(c.horizon_free for _, _, c in cells):
        runs = []
        for seed in seeds:
            configs = [c for _, s, c in cells if s == seed]
            longest = max(configs, key=lambda c: c.epochs)
            runs.append(PlannedRun(longest, tuple(sorted({c.epochs for c in configs} - {longest.epochs}))))
        return runs
    unique = {c.hash(): c for _, _, c in cells}
    return [PlannedRun(c) for c in unique.values()]


def shard_of(runs: Sequence[PlannedRun], shard: tuple[int, int] | None) -> list[PlannedRun]:
    """The runs of shard ``(i, n)`` (0 <= i < n): a partition by config hash, the same on every machine."""
    if shard is None:
        return list(runs)
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    return [r for r in runs if int(r.config.hash(), 16) % n == i]


def study(
    name: str,
    profile: str = "smoke",
    *,
    seeds: Sequence[int] = (0,),
    values: Sequence[Any] | None = None,
    results_dir: str | Path | None = None,
    device: str = "auto",
    fresh: bool = False,
    shard: tuple[int, int] | None = None,
    train_missing: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Run (or load) the study ``name`` at ``profile`` over ``seeds`` and tabulate it.

    One row per studied value: ``value``, ``report_fid``, ``fid_mean``, ``fid_std`` (over
    seeds; NaN with one seed), ``n_seeds``, ``fids``, ``train_time_s``, ``images_seen``,
    ``steps`` (optimiser steps), ``parameters``, ``classes_covered``, and ``best`` / ``report_best`` flags;
    for each of :data:`QUALITY_METRICS` (``precision``, ...) the per-seed list ``precisions`` and the
    mean ``precision_mean`` (NaN unless every seed's result has it). With a
    ``shard`` only that shard's runs are computed and the table holds what is available.
    ``train_missing=False`` builds the table from stored results only. ``values``: only these
    of the study's values."""
    st = get_study(name)
    prof = get_profile(profile)
    results_dir = results_dir_for(prof.name, results_dir)
    runs = plan(st, prof, seeds, values)
    for r in shard_of(runs, shard) if train_missing else []:
        run(r.config, results_dir, device=device, profile=prof.name, fresh=fresh, milestones=r.milestones, progress=progress)
    return tabulate(st, prof, seeds, results_dir, values)


def tabulate(st: Study, prof: Profile, seeds: Sequence[int], results_dir: str | Path, values: Sequence[Any] | None = None) -> pd.DataFrame:
    """The study table from the results on disk (missing cells are left out of the means), one row
    per value; ``run`` identifies the configuration (seed 0's hash), equal for values that share
    one run."""
    rows = []
    for value in _values(st, values):
        base = prof.study_config(st, value)
        found = []
        for seed in seeds:
            config = base.with_param("seed", seed)
            try:
                res = load_result(config, results_dir)
            except CorruptResultError:
                res = None
            if res is not None:
                found.append(res)
        fids = [r["metrics"]["fid"] for r in found]
        quality = {m: [r["metrics"].get(m, np.nan) for r in found] for m in QUALITY_METRICS}
        rows.append({
            "value": st.label(value),
            "run": base.hash(),  # shared by values the profile caps to one run
            "epochs": base.epochs,  # at this profile (the value may be the report's)
            "report_fid": st.report_fid.get(st.label(value)),
            "fid_mean": float(np.mean(fids)) if fids else np.nan,
            "fid_std": float(np.std(fids, ddof=1)) if len(fids) > 1 else np.nan,
            "n_seeds": len(fids),
            "fids": fids,
            "seeds": [r["seed"] for r in found],
            "train_time_s": float(np.mean([r["train"]["wall_time_s"] for r in found])) if found else np.nan,
            "images_seen": found[0]["train"]["images_seen"] if found else np.nan,
            "steps": found[0]["train"]["steps"] if found else np.nan,
            "parameters": found[0]["parameters"] if found else np.nan,
            "classes_covered": min(r["metrics"]["digits"]["classes_covered"] for r in found) if found else np.nan,
            "nonfinite_fraction": min(r["metrics"]["nonfinite_fraction"] for r in found) if found else np.nan,
            **{f"{m}s": v for m, v in quality.items()},
            **{f"{m}_mean": float(np.mean(v)) if v and not np.isnan(v).any() else np.nan for m, v in quality.items()},
        })
    table = pd.DataFrame(rows)
    table["best"] = table["fid_mean"] == table["fid_mean"].min()
    table["report_best"] = table["value"] == st.label(st.report_choice)
    return table


def study_results(
    name: str, profile: str, seeds: Sequence[int] = (0,), results_dir: str | Path | None = None, values: Sequence[Any] | None = None
) -> dict[str, list[dict]]:
    """The stored results of a study, by value label (for sample grids and loss curves)."""
    st, prof = get_study(name), get_profile(profile)
    results_dir = results_dir_for(prof.name, results_dir)
    out: dict[str, list[dict]] = {}
    for value in _values(st, values):
        for seed in seeds:
            res = load_result(prof.study_config(st, value).with_param("seed", seed), results_dir)
            if res is not None:
                out.setdefault(st.label(value), []).append(res)
    return out


__all__ = ["run", "study", "tabulate", "plan", "shard_of", "load_result", "study_results"]
