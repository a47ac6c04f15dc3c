"""Compute spent on the stored results: training, sampling and scoring time per study.

A run that continues a shorter one (:func:`ddpm_mnist.studies.runner.shorter_checkpoint`) or is
scored at several lengths of one training is counted once (:func:`_training_seconds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path

import pandas as pd

from . import runner
from .config import RunConfig
from .plan import run_order
from .registry import get_study


def _trajectory(result: dict) -> str:
    """Results on one training trajectory (the same run scored at several lengths, or continued) share this key."""
    return runner.trajectory(RunConfig.from_dict(result["config"]))


def _training_seconds(lengths: list[dict]) -> float:
    """Training time behind the lengths of one trajectory: dicts of ``steps``, ``wall`` (the
    run's ``wall_time_s``, which includes a shorter run it continued), ``created`` (when the
    first result at that length was written) and ``extended_from_step``.

    Training processes are told apart by time: a shorter length whose result was written
    between the start of a longer one's training and that longer one's result is a snapshot of
    that training (a milestone, scored just before the end of the run); one written before or
    after it was trained on its own (counted too), or is the run that the longer one continued
    (whose time the longer one's includes, and is counted once)."""
    total, todo = 0.0, sorted(lengths, key=lambda x: x["steps"])
    while todo:
        longest = todo.pop()
        ancestor = next((x for x in lengths if x["steps"] == longest["extended_from_step"]), None)
        own = longest["wall"] - (ancestor["wall"] if ancestor else 0.0)
        total += own
        began = longest["created"] - own
        todo = [x for x in todo if not began <= x["created"] <= longest["created"]]  # the rest: other processes
    return total


def _compute(results: list[dict]) -> tuple[float, float]:
    """(training, sampling + scoring) seconds behind ``results``: each training process counted
    once (:func:`_training_seconds`), each scored config once."""
    unique = {r["hash"]: r for r in results}.values()
    lengths: dict[str, dict[int, dict]] = {}
    for r in unique:
        created = datetime.strptime(r["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        at = lengths.setdefault(_trajectory(r), {}).setdefault(
            r["train"]["steps"], {"steps": r["train"]["steps"], "wall": 0.0, "created": created,
                                  "extended_from_step": r["train"].get("extended_from_step")})
        at["wall"] = max(at["wall"], r["train"]["wall_time_s"])  # sampling-only variants share the training
        at["created"] = min(at["created"], created)
    sample = sum(r["metrics"]["sample_time_s"] + r["metrics"]["score_time_s"] for r in unique)
    return sum(_training_seconds(list(by_steps.values())) for by_steps in lengths.values()), sample


def _label(st, values: list | None, seeds: list[int]) -> str:
    """A compute row's name: the study, the values of a batch (their count where listing them
    would not fit a table cell) and the seeds other than the first."""
    label = f"{st.section} {st.title}"
    if values:
        listed = ", ".join(map(str, values))
        label += f" ({listed})" if len(listed) <= 40 else f" ({len(values)} values)"
    return label + (f", seeds {', '.join(map(str, seeds))}" if seeds != [0] else "")


def _by_study(profile: str, results_dir: str | Path | None = None) -> Iterator[tuple[str, list[dict]]]:
    """The stored results the chapters use (:func:`run_order`, the seed rule's further seeds
    included), as (row label, results) per study and batch of seeds."""
    for (name, seeds), entries in groupby(run_order(profile, results_dir), key=lambda e: (e[0], e[2])):
        batches = [values for _, values, _ in entries]  # the epochs rule's one-value batches make one row
        values = None if None in batches else list(dict.fromkeys(v for b in batches for v in b))
        results = [r for rs in runner.study_results(name, profile, seeds, results_dir, values).values() for r in rs]
        yield _label(get_study(name), values, seeds), results


def results_used(profile: str, results_dir: str | Path | None = None) -> list[dict]:
    """Every stored result the chapters of ``profile`` use, each once."""
    return list({r["hash"]: r for _, results in _by_study(profile, results_dir) for r in results}.values())


def compute_time(profile: str, results_dir: str | Path | None = None) -> pd.DataFrame:
    """Compute spent per study (training, sampling, scoring), from the stored results it uses
    (:func:`run_order`, the seed rule's further seeds included), and a last row with the total
    (a run shared by several studies, such as the baseline, is counted in each study's row but
    once in the total)."""
    rows, everything = [], []
    for label, results in _by_study(profile, results_dir):
        everything += results
        train, sample = _compute(results)
        rows.append({"study": label, "runs": len({r['hash'] for r in results}),
                     "training (min)": round(train / 60, 1), "sampling + scoring (min)": round(sample / 60, 1)})
    train, sample = _compute(everything)
    rows.append({"study": "total (each run once)", "runs": len({r['hash'] for r in everything}),
                 "training (min)": round(train / 60, 1), "sampling + scoring (min)": round(sample / 60, 1)})
    return pd.DataFrame(rows)
