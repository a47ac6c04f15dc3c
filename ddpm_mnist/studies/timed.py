"""Quality per CPU-minute: networks trained for a fixed wall-clock, side by side with ``diffusers``.

The book's chapter "Ten minutes on a CPU" and ``benchmarks/ten_minutes.py`` ask which DDPM one
gets from M minutes of training on the machine at hand. Each candidate is a recipe
(:mod:`ddpm_mnist.train.recipes`) with some options overridden (:data:`CANDIDATES`); each is
trained for M minutes (:func:`ddpm_mnist.train.training.train` with ``minutes``), sampled with
its sampler (1,000 samples, the fast sampling path) and scored with every metric of the
project. The ``diffusers`` peer (:mod:`ddpm_mnist.train.peer`) is trained and scored the same
way, and the real digits of the training split give the metrics' ceiling.

A timed comparison is only fair between runs that had the same share of the machine: each
result records the load average before it started, the threads and the CPU it ran on. Results
are written atomically to ``<results>/<folder>/<label>-<M>min-seed<S>.json`` (with the first 100
samples; ``folder``: ``timed`` for the benchmark, ``search`` for the recipe search); a stored
result is not recomputed. The trained network is kept (git-ignored) under
``<folder>/checkpoints/``, named by what fixes it (:func:`network_key`): an interrupted training
resumes from it, and candidates that change only the sampler reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..core.ranges import to_uint8
from ..core.sampling import class_labels, network_evaluations, sample
from ..core.spec import DenoiserSpec
from ..data import load_mnist, load_mnist_uint8
from ..eval import classifier, quality
from ..eval.metrics import score
from ..io import exclusive, save_npy, write_json
from ..train.fastpath import sampling_model
from ..train.measured import describe_machine
from ..train.recipes import RECIPES, START
from ..train.training import train
from .runner import code_version

PEER = "diffusers"
"""The label of the ``diffusers`` peer's results."""

PEER_STEPS = 50
"""The peer's sampler: ``DDIMScheduler`` with this many steps."""


def _sampling(sampler: str, options: dict[str, Any], guidance: float | None = None,
              interval: tuple[float, float] | None = None) -> dict[str, Any]:
    sampling = {"sampler": sampler, "options": options}
    if guidance is not None:
        sampling["guidance"] = guidance
    if interval is not None:
        sampling["guidance_interval"] = interval
    return {"sampling": sampling}


def _ddim(steps: int, guidance: float | None = None, **options: Any) -> dict[str, Any]:
    return _sampling("ddim", {"steps": steps, "eta": 0.0, **options}, guidance)


def _dpm_solver(steps: int, guidance: float | None = None, interval: tuple[float, float] | None = None) -> dict[str, Any]:
    return _sampling("dpm-solver", {"steps": steps}, guidance, interval)


def _conditional(channels: tuple[int, ...] = (32, 64, 128)) -> dict[str, Any]:
    return {"spec": {"model_options": {"channels": channels, "n_convs": 10, "num_classes": 10}}}


CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "start": {},
    # the optimiser: peak lr, its schedule, the average of the weights
    "lr 2e-3": {"train": {"lr": 2e-3}},
    "lr 5e-4": {"train": {"lr": 5e-4}},
    "warm-up + cosine lr": {"train": {"lr": 2e-3, "lr_schedule": "cosine", "warmup_steps": 100}},
    "schedule-free AdamW": {"train": {"optimizer": "schedulefree", "lr": 2e-3, "warmup_steps": 100, "ema_decay": None}},
    "EMA 0.999": {"train": {"ema_decay": 0.999}},
    # what the network predicts and how its loss is weighted
    "x0 target": {"spec": {"loss": "x0-l2"}},
    "eps target": {"spec": {"loss": "epsilon-l2"}},
    "v, min-SNR-5": {"spec": {"loss": "v-l2-min-snr5"}},
    "EDM preconditioning": {"spec": {"loss": "edm-l2"}},
    # the network and the batch at equal minutes
    "U-Net (16, 32, 64)": {"spec": {"model_options": {"channels": (16, 32, 64), "n_convs": 10}}},
    "U-Net (48, 96, 192)": {"spec": {"model_options": {"channels": (48, 96, 192), "n_convs": 10}}},
    "batch 32": {"train": {"batch_size": 32}},
    "batch 128": {"train": {"batch_size": 128}},
    # the sampler, on the network of "start"
    "DDIM 25": _ddim(25),
    "DDIM 100": _ddim(100),
    "DDIM 50, eta 1": _ddim(50, eta=1.0),
    "DDIM 50, clipped": _ddim(50, clip=(-1.0, 1.0)),
    "DPM-Solver++ 20": _dpm_solver(20),
    "DPM-Solver++ 10": _dpm_solver(10),
    "eps target, DDIM 50, clipped": {"spec": {"loss": "epsilon-l2"}, **_ddim(50, clip=(-1.0, 1.0))},
    # labels as inputs (10% dropped in training), drawn ten of each digit, with classifier-free guidance w
    **{f"class-conditional, w {w:g}": {**_conditional(), **_ddim(50, guidance=w)} for w in (0.0, 0.25, 0.5, 1.0, 2.0)},
    **{f"class-conditional, w {w:g}, DPM-Solver++ {k}": {**_conditional(), **_dpm_solver(k, guidance=w)}
       for w, k in ((1.0, 10), (0.0, 10), (0.0, 20), (0.25, 10), (0.25, 20), (0.5, 10), (0.5, 20))},
    "class-conditional, w 0.25, DDIM 50, eta 1": {**_conditional(), **_ddim(50, guidance=0.25, eta=1.0)},
    # the same at a quarter of the network's cost per evaluation: more steps in the minutes, cheaper sampling
    **{f"class-conditional U-Net (16, 32, 64), w {w:g}": {**_conditional((16, 32, 64)), **_ddim(50, guidance=w)}
       for w in (0.0, 0.25, 0.5)},
    **{f"class-conditional U-Net (16, 32, 64), w {w:g}, DPM-Solver++ {k}": {**_conditional((16, 32, 64)), **_dpm_solver(k, guidance=w)}
       for w, k in ((0.0, 20), (0.25, 10), (0.25, 20), (0.5, 20), (0.5, 15), (0.5, 25), (0.5, 30), (0.25, 30), (0.0, 30), (1.0, 30))},
    # guidance only where the noise level sigma_t lies in (0.28, 5.42] (Kynkaanniemi et al. 2024's interval):
    # 10 of DPM-Solver++ 20's steps, 30 network evaluations a sample instead of 40
    **{f"class-conditional U-Net (16, 32, 64), w {w:g} in (0.28, 5.42], DPM-Solver++ 20":
       {**_conditional((16, 32, 64)), **_dpm_solver(20, guidance=w, interval=(0.28, 5.42))} for w in (0.5, 1.0)},
}
"""Search candidates by label: what each changes in the search's starting point
(:data:`~ddpm_mnist.train.recipes.START`), as ``{"spec": {...},
"train": {...}, "sampling": {...}}`` (each part optional, merged into the recipe's). A sampling
``guidance`` (class-conditional networks) is the scale :math:`w`; such a network draws its
samples ten of each digit (:func:`~ddpm_mnist.core.sampling.class_labels`)."""


def timed_path(results_dir: str | Path, label: str, minutes: float, seed: int, folder: str = "timed") -> Path:
    name = "".join(c if c.isalnum() or c in "-." else "-" for c in label)
    return Path(results_dir) / folder / f"{name}-{minutes:g}min-seed{seed}.json"


def network_key(spec: DenoiserSpec, train_options: dict, minutes: float, seed: int) -> str:
    """What fixes a timed network: its spec, training options, minutes, seed and threads (12 hex
    digits). Candidates that differ only in their sampler share it."""
    blob = json.dumps([spec.to_dict(), train_options, minutes, seed, torch.get_num_threads()], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def candidate(label: str) -> tuple[dict, dict, dict]:
    """(spec fields, train options, sampling) of ``label``: a named recipe
    (:data:`~ddpm_mnist.train.recipes.RECIPES`, what the benchmark measures), or a search
    candidate, :data:`~ddpm_mnist.train.recipes.START` with the candidate's changes."""
    if label in RECIPES:
        recipe, change = RECIPES[label], {}
    elif label in CANDIDATES:
        recipe, change = START, CANDIDATES[label]
    else:
        raise ValueError(f"unknown candidate {label!r}; valid: the recipes {', '.join(RECIPES)} or the search candidates "
                         f"{', '.join(CANDIDATES)}")
    return ({**recipe.spec, **change.get("spec", {})}, {**recipe.train, **change.get("train", {})},
            {**recipe.sampling, **change.get("sampling", {})})


def quality_of(images: torch.Tensor) -> dict[str, Any]:
    """Every metric of uint8 samples (N, 1, 28, 28) against the MNIST test split: FID,
    precision, recall, KID, the class histogram, its KL from uniform, the digits covered and the
    classifier's mean confidence."""
    digits = classifier.digit_summary(images)
    return {**score(images), "class_kl": quality.class_kl(digits["histogram"]), "histogram": digits["histogram"],
            "classes_covered": digits["classes_covered"], "confidence": digits["mean_confidence"]}


def _finish(path: Path, label: str, minutes: float, seed: int, load: float, trained: dict, images: torch.Tensor,
            sample_time: float, extra: dict) -> dict:
    result = {"format": "ddpm-mnist/timed", "label": label, "minutes": minutes, "seed": seed, "n_samples": len(images),
              "code_version": code_version(), "torch": torch.__version__, "machine": describe_machine(),
              "load_before": round(load, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "train": trained, "sample_time_s": round(sample_time, 2), "metrics": quality_of(images), **extra}
    save_npy(path.with_suffix(".npy"), images[:100, 0].numpy())
    write_json(path, result)
    return result


def run_candidate(label: str, minutes: float, seed: int, *, n_samples: int = 1000, results_dir: str | Path,
                  folder: str = "timed", device: str = "cpu", progress: bool = False, train_subset: int | None = None,
                  wait: bool = True) -> dict:
    """Train candidate ``label`` for ``minutes``, sample ``n_samples`` with its sampler and score
    them (stored; loaded when already there). ``wait=False``: raise
    :class:`~ddpm_mnist.io.LockedError` at once when another process is training the same network."""
    path = timed_path(results_dir, label, minutes, seed, folder)
    s, opts, sampling = candidate(label)
    spec = DenoiserSpec(s["model"], s.get("model_options", {}), s["T"], s["schedule"], s["loss"], s.get("value_range", "[-1,1]"))
    if path.exists() and _same_candidate(stored := _load(path), spec, opts, sampling):
        return stored
    key = network_key(spec, opts, minutes, seed)
    ck = path.parent / "checkpoints" / f"{key}.pt"
    with exclusive(ck.with_suffix(".lock"), wait=wait):
        if path.exists() and _same_candidate(stored := _load(path), spec, opts, sampling):
            return stored
        load = os.getloadavg()[0]
        images, labels = load_mnist(train=True, value_range=spec.value_range, subset=train_subset, seed=0, with_labels=True)
        result = train(spec, images, labels=labels if spec.num_classes else None, minutes=minutes, **opts, seed=seed,
                       device=device, checkpoint_path=ck, sampling=sampling, progress=progress)
        model = result.ema_model if result.ema_model is not None else result.model
        options, guidance, interval = sampling.get("options", {}), sampling.get("guidance", 0.0), sampling.get("guidance_interval")
        t0 = time.perf_counter()
        evaluations = network_evaluations(sampling["sampler"], spec.alpha_bar(), options, guidance, interval)
        fast, path_used = sampling_model(model, device, n_samples * evaluations)
        x = sample(sampling["sampler"], fast, spec.alpha_bar(), spec.target, n_samples, options=options, seed=10_000 + seed,
                   device=device, progress=progress, guidance=guidance, guidance_interval=interval,
                   labels=class_labels(n_samples, spec.num_classes) if spec.num_classes else None)
        sample_time = time.perf_counter() - t0
        trained = {"steps": result.steps, "images_seen": result.images_seen, "wall_time_s": round(result.wall_time_s, 1),
                   "time_budget": result.time_budget, "numerics": result.numerics, "network": key}
        return _finish(path, label, minutes, seed, load, trained, to_uint8(x, spec.value_range), sample_time,
                       {"spec": spec.to_dict(), "options": opts, "sampling": {**sampling, "path": path_used}})


def run_peer(minutes: float, seed: int, *, n_samples: int = 1000, results_dir: str | Path, folder: str = "timed",
             device: str = "cpu", progress: bool = False, train_subset: int | None = None, wait: bool = True) -> dict:
    """The ``diffusers`` peer trained for ``minutes``, sampled with DDIM 50 and scored (stored)."""
    path = timed_path(results_dir, PEER, minutes, seed, folder)
    if path.exists():
        return _load(path)
    with exclusive(path.with_suffix(".lock"), wait=wait):
        if path.exists():
            return _load(path)
        return _run_peer(path, minutes, seed, n_samples, device, progress, train_subset)


def _run_peer(path: Path, minutes: float, seed: int, n_samples: int, device: str, progress: bool,
              train_subset: int | None) -> dict:
    from ..train.peer import PEER_TRAINING, PEER_UNET, sample_peer, train_peer

    load = os.getloadavg()[0]
    images = load_mnist(train=True, value_range="[-1,1]", subset=train_subset, seed=0)
    peer = train_peer(images, minutes, seed=seed, device=device, progress=progress)
    t0 = time.perf_counter()
    x = sample_peer(peer, n_samples, steps=PEER_STEPS, seed=10_000 + seed, device=device)
    sample_time = time.perf_counter() - t0
    trained = {"steps": peer.steps, "images_seen": peer.images_seen, "wall_time_s": round(peer.wall_time_s, 1),
               "time_budget": peer.time_budget}
    import diffusers

    return _finish(path, PEER, minutes, seed, load, trained, to_uint8(x, "[-1,1]"), sample_time,
                   {"peer": {"unet": PEER_UNET, "training": PEER_TRAINING, "sampler": f"DDIMScheduler, {PEER_STEPS} steps, eta 0",
                             "diffusers": diffusers.__version__,
                             "parameters": sum(p.numel() for p in peer.model.parameters())}})


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _same_candidate(result: dict, spec: DenoiserSpec, train_options: dict, sampling: dict) -> bool:
    """Whether a stored ``result`` was computed with this configuration. A label keeps its name
    when its recipe moves on (``fast``); a result of the recipe's earlier configuration is then
    computed again (the network is reused where only the sampler changed)."""
    def plain(x: Any) -> Any:  # as stored: tuples become lists
        return json.loads(json.dumps(x, default=str))

    stored_sampling = {k: v for k, v in result.get("sampling", {}).items() if k != "path"}
    return plain([result.get("spec"), result.get("options"), stored_sampling]) == plain([spec.to_dict(), train_options, sampling])


def evaluations_of(result: dict) -> int:
    """Network evaluations per sample of a stored timed ``result`` (the peer: DDIM's 50 steps)."""
    if "spec" not in result:
        return PEER_STEPS
    sampling = result["sampling"]
    return network_evaluations(sampling["sampler"], DenoiserSpec.from_dict(result["spec"]).alpha_bar(), sampling.get("options"),
                               sampling.get("guidance", 0.0), sampling.get("guidance_interval"))


def real_ceiling(n: int = 1000) -> dict:
    """The metrics of ``n`` real digits of the training split against the test split: the best
    a generator can score at this sample count."""
    images, _ = load_mnist_uint8(train=True)
    return quality_of(images[:n])


def table(results: list[dict], ceiling: dict | None = None) -> pd.DataFrame:
    """One row per label (mean over its seeds): seeds, steps, images seen, minutes the training
    took (the steps are fixed from a probe of the step time, so a run may end past its budget), FID (mean and SD),
    precision, recall, class KL, digits covered (minimum over seeds), network evaluations per
    sample, sampling seconds; with
    ``ceiling`` a last row for the real digits."""
    rows = []
    for label in dict.fromkeys(r["label"] for r in results):
        rs = [r for r in results if r["label"] == label]
        m = lambda key: float(np.mean([r["metrics"][key] for r in rs]))  # noqa: E731
        fids = [r["metrics"]["fid"] for r in rs]
        rows.append({"method": label, "seeds": len(rs), "steps": int(np.mean([r["train"]["steps"] for r in rs])),
                     "images seen": int(np.mean([r["train"]["images_seen"] for r in rs])),
                     "training min": float(np.mean([r["train"]["wall_time_s"] for r in rs])) / 60, "FID": float(np.mean(fids)),
                     "FID SD": float(np.std(fids, ddof=1)) if len(rs) > 1 else float("nan"), "precision": m("precision"),
                     "recall": m("recall"), "class KL": m("class_kl"),
                     "digits covered (min)": min(r["metrics"]["classes_covered"] for r in rs),
                     "evaluations / sample": evaluations_of(rs[0]),
                     "sampling s / 1,000": float(np.mean([r["sample_time_s"] * 1000 / r["n_samples"] for r in rs]))})
    if ceiling is not None:
        rows.append({"method": "real digits (training split)", "seeds": 0, "steps": 0, "images seen": 0, "training min": float("nan"), "FID": ceiling["fid"],
                     "FID SD": float("nan"), "precision": ceiling["precision"], "recall": ceiling["recall"],
                     "class KL": ceiling["class_kl"], "digits covered (min)": ceiling["classes_covered"],
                     "evaluations / sample": 0, "sampling s / 1,000": float("nan")})
    return pd.DataFrame(rows)


def stored(results_dir: str | Path, folder: str = "timed") -> list[dict]:
    """Every stored timed result under ``results_dir/folder``."""
    return [_load(p) for p in sorted((Path(results_dir) / folder).glob("*.json"))]


def samples_of(result: dict, results_dir: str | Path, folder: str = "timed") -> np.ndarray:
    """The first 100 samples stored with a timed ``result``: uint8 (100, 28, 28)."""
    path = timed_path(results_dir, result["label"], result["minutes"], result["seed"], folder).with_suffix(".npy")
    return np.load(path)


def budget_spread(results: list[dict]) -> tuple[int, int, int] | None:
    """How much the probed budget itself varies: among trained networks that cost the same per
    step (same U-Net channels, batch size and seed), the fewest and most steps planned for the
    same minutes, and how many such networks there are; None while no two share a cost."""
    groups: dict[str, dict[str, int]] = {}
    for r in results:
        if "spec" not in r:  # the peer
            continue
        cost = json.dumps([r["spec"]["model_options"].get("channels"), r["options"].get("batch_size"), r["minutes"], r["seed"]])
        groups.setdefault(cost, {})[r["train"]["network"]] = r["train"]["steps"]
    shared = [g for g in groups.values() if len(g) > 1]
    if not shared:
        return None
    widest = max(shared, key=lambda g: max(g.values()) / min(g.values()))
    return min(widest.values()), max(widest.values()), len(widest)


def paired_to(results: list[dict], reference: str = "start") -> dict[str, float]:
    """Per label, the mean over common seeds of its FID minus ``reference``'s (NaN without a
    common seed): the search's changes measured against the recipe they change."""
    ref = {r["seed"]: r["metrics"]["fid"] for r in results if r["label"] == reference}
    out = {}
    for label in dict.fromkeys(r["label"] for r in results):
        gaps = [r["metrics"]["fid"] - ref[r["seed"]] for r in results if r["label"] == label and r["seed"] in ref]
        out[label] = float(np.mean(gaps)) if gaps else float("nan")
    return out


FLOORS: tuple[tuple[str, str, str, float], ...] = (
    ("FID at most a quarter of diffusers'", "FID / diffusers' FID", "max", 0.25),
    ("precision at least 0.75", "precision", "min", 0.75),
    ("recall at least 0.85", "recall", "min", 0.85),
    ("all ten digits present", "digits covered (min)", "min", 10),
    ("class histogram KL from uniform at most 0.01", "class KL", "max", 0.01),
    ("1,000 samples in under 30 s", "sampling s / 1,000", "max", 30.0),
)
"""Issue 28's floors: (floor, measured column of :func:`table`, "max" or "min", bound)."""


def floor_table(t: pd.DataFrame, label: str = "fast", min_seeds: int = 3) -> pd.DataFrame:
    """Each floor of :data:`FLOORS` for the row ``label`` of :func:`table` (beside the peer's row
    for the FID ratio): ``floor``, ``measured``, ``met`` ("yes", "no", or "not yet" with fewer than
    ``min_seeds`` seeds or no peer)."""
    rows = t.set_index("method")
    if label not in rows.index:
        return pd.DataFrame({"floor": [f[0] for f in FLOORS], "measured": np.nan, "met": "not yet"})
    row = rows.loc[label].to_dict()
    peer_fid = rows.loc[PEER, "FID"] if PEER in rows.index else np.nan
    row["FID / diffusers' FID"] = row["FID"] / peer_fid
    out = []
    for name, column, kind, bound in FLOORS:
        value = float(row[column])
        ok = value <= bound if kind == "max" else value >= bound
        met = "not yet" if row["seeds"] < min_seeds or not np.isfinite(value) else "yes" if ok else "no"
        out.append({"floor": name, "measured": value, "met": met})
    return pd.DataFrame(out)
