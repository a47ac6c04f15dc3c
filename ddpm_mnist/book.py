"""What the book's chapters call: run or load a chapter's study, and present it.

A study chapter is three calls::

    table = book.run_study("batch-size", profile, seeds, results_dir, device)
    book.show(table, "batch-size", profile, seeds, results_dir)
    book.grids("batch-size", profile, seeds, results_dir)

Numbers quoted in the prose are glued from the same table (:func:`glue_study`), so the text
and the table cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import experiments, plots
from .profiles import get_profile
from .report import STUDIES, get_study

PARAM_LABELS = {
    "batch_size": "batch size", "epochs": "epochs (report)", "loss": "loss", "model_options.channels": "channels",
    "T": "noising steps T", "schedule": "noising process", "value_range": "normalization range", None: "model",
}


def run_study(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None, device: str = "auto",
              values: Sequence[Any] | None = None, train_missing: bool | None = None) -> pd.DataFrame:
    """:func:`ddpm_mnist.experiments.study`, quiet in the smoke profile.

    ``train_missing`` None: train missing runs except at the ``cpu`` profile, whose results are
    computed in the background and committed (the published build never trains; a missing
    cell shows as "—")."""
    if train_missing is None:
        train_missing = profile != "cpu"
    return experiments.study(name, profile, seeds=seeds, values=values, results_dir=results_dir, device=device,
                             progress=profile != "smoke", train_missing=train_missing)


def provenance(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None) -> str:
    """One line saying how the numbers of a study were obtained."""
    prof = get_profile(profile)
    results = [r for rs in experiments.study_results(name, profile, seeds, results_dir).values() for r in rs]
    if not results:
        return f"profile {profile}: no results yet"
    r = results[0]
    devices = sorted({x["device_name"] for x in results})
    versions = sorted({x["code_version"] for x in results})
    m = r["metrics"]
    return (f"Profile `{prof.name}` ({prof.description}); seeds {', '.join(map(str, seeds))}; "
            f"trained on {', '.join(devices)}; FID in `{m['features']}` features on {m['n_samples']:,} samples "
            f"against the MNIST {m['reference']} set; code {', '.join(versions)}.")


def display_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The study table as the book shows it: the report's FID beside ours, best values marked."""
    st = get_study(name)
    ours = [
        "—" if np.isnan(m) else f"{m:.2f}" + ("" if np.isnan(s) else f" ± {s:.2f}") + (" ★" if b else "")
        for m, s, b in zip(table["fid_mean"], table["fid_std"], table["best"])
    ]
    report = ["—" if r is None or (isinstance(r, float) and np.isnan(r)) else f"{r:.1f}" + (" ★" if b else "")
              for r, b in zip(table["report_fid"], table["report_best"])]
    out = pd.DataFrame({
        PARAM_LABELS.get(st.param, st.param): table["value"],
        "report FID (Inception)": report,
        "our FID (mean ± std)": ours,
        "seeds": table["n_seeds"],
        "images seen": [("—" if np.isnan(i) else f"{int(i):,}") for i in table["images_seen"]],
        "train time": [("—" if np.isnan(t) else f"{t / 60:.1f} min") for t in table["train_time_s"]],
        "digits covered": [("—" if np.isnan(c) else int(c)) for c in table["classes_covered"]],
    })
    return out


def _nothing_yet(name: str, profile: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(f"*No stored results of the {name} study at the `{profile}` profile yet.*"))


def _show_figure(fig) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def show(table: pd.DataFrame, name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None,
         plot: bool = True) -> None:
    """Display the table, its provenance and (``plot``) FID against the studied value."""
    from IPython.display import Markdown, display

    st = get_study(name)
    display(display_table(table, name).style.hide(axis="index"))
    display(Markdown(provenance(name, profile, seeds, results_dir)))
    if plot and table["fid_mean"].notna().any():
        r = next((rs[0] for rs in experiments.study_results(name, profile, seeds[:1], results_dir).values()), None)
        label = f"{r['metrics']['features']}, n={r['metrics']['n_samples']}" if r else "no results"
        _show_figure(plots.study_plot(table, f"{st.section} {st.title}", PARAM_LABELS.get(st.param, st.param), label))


def grids(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None,
          values: Sequence[Any] | None = None, columns: int = 4) -> None:
    """Show 100 samples of the first seed per value, captioned with that run's FID."""
    by_value = experiments.study_results(name, profile, seeds[:1], results_dir, values)
    if not by_value:
        return _nothing_yet(name, profile)
    samples = {k: v[0]["samples"] for k, v in by_value.items()}
    captions = {k: f"{k}: FID {v[0]['metrics']['fid']:.1f}" for k, v in by_value.items()}
    _show_figure(plots.sample_grids(samples, columns=columns, caption=captions))


def training_and_digits(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None,
                        values: Sequence[Any] | None = None) -> None:
    """Show the training-loss curves and the classifier's digit histograms (first seed per value)."""
    by_value = experiments.study_results(name, profile, seeds[:1], results_dir, values)
    if not by_value:
        return _nothing_yet(name, profile)
    _show_figure(plots.loss_curves({k: v[0]["train"]["loss_curve"] for k, v in by_value.items()}))
    _show_figure(plots.digit_histograms({k: v[0]["metrics"]["digits"]["histogram"] for k, v in by_value.items()}))


def glue_study(table: pd.DataFrame, name: str, prefix: str) -> dict[str, str]:
    """Glue (myst-nb) the numbers a chapter's prose quotes: ``<prefix>_best`` (our best value),
    ``<prefix>_best_fid``, ``<prefix>_report_choice``, ``<prefix>_report_choice_fid`` (ours at the
    report's choice) and ``<prefix>_agree`` ("agrees" / "does not agree"). Returns them too."""
    from IPython.display import Markdown
    from myst_nb import glue

    st = get_study(name)
    done = table[table["fid_mean"].notna()]
    choice = table[table["report_best"]]
    values = {
        f"{prefix}_best": done.loc[done["fid_mean"].idxmin(), "value"] if len(done) else "—",
        f"{prefix}_best_fid": f"{done['fid_mean'].min():.2f}" if len(done) else "—",
        f"{prefix}_report_choice": st.label(st.report_choice),
        f"{prefix}_report_choice_fid": f"{choice['fid_mean'].iloc[0]:.2f}" if len(choice) and choice["fid_mean"].notna().all() else "—",
    }
    values[f"{prefix}_agree"] = "agrees" if values[f"{prefix}_best"] == values[f"{prefix}_report_choice"] else "does not agree"
    for key, value in values.items():
        glue(key, Markdown(str(value)), display=False)
    return values


CHAPTER_RUNS: list[tuple[str, list | None, list[int]]] = [
    ("models", ["unet"], [0, 1, 2]),
    ("models", ["dense", "conv"], [0]),
    ("loss", None, [0]),
    ("noising-process", None, [0]),
    ("normalization", None, [0]),
    ("channels", None, [0]),
    ("batch-size", None, [0]),
    ("noising-steps", None, [0]),
    ("epochs", None, [0]),
]
"""(study, values or None for all, seeds) that the chapters show, in the order
``scripts/run_profile.py`` computes them: the U-Net over three seeds (the yardstick of seed
noise), the cheap dense and convolutional models once, then the studies."""

CHAPTER_SEEDS: dict[str, list[int]] = {"models": [0, 1, 2]}
"""Seeds of each study's summary row (others: seed 0)."""


def summary(profile: str, results_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per study, from stored results only: the report's choice, ours, and whether they agree."""
    from .experiments import tabulate

    prof = get_profile(profile)
    results_dir = Path(results_dir) if results_dir is not None else prof.results_dir
    rows = []
    for name, st in STUDIES.items():
        seeds = CHAPTER_SEEDS.get(name, [0])
        t = tabulate(st, prof, seeds, results_dir)
        done = t[t["fid_mean"].notna()]
        best = done.loc[done["fid_mean"].idxmin()] if len(done) else None
        rows.append({
            "study": f"{st.section} {st.title}",
            "report's choice": st.label(st.report_choice),
            "our best": best["value"] if best is not None else "—",
            "our best FID": f"{best['fid_mean']:.2f}" if best is not None else "—",
            "agree": ("yes" if best["value"] == st.label(st.report_choice) else "no") if best is not None else "—",
            "values run": f"{len(done)} / {len(t)}",
        })
    return pd.DataFrame(rows)


def compute_time(profile: str, results_dir: str | Path | None = None) -> pd.DataFrame:
    """Compute spent per study (training, sampling, scoring), summed over the stored results it uses.

    A run shared by several studies (the baseline) is counted in each."""
    rows = []
    for name, values, seeds in CHAPTER_RUNS:
        st = STUDIES[name]
        results = [r for rs in experiments.study_results(name, profile, seeds, results_dir, values).values() for r in rs]
        if st.param == "epochs":  # one training run per seed: count its longest milestone once
            results = sorted(results, key=lambda r: r["train"]["steps"])[-1:] + [
                {**r, "train": {**r["train"], "wall_time_s": 0.0}} for r in sorted(results, key=lambda r: r["train"]["steps"])[:-1]]
        train = sum(r["train"]["wall_time_s"] for r in results)
        sample = sum(r["metrics"]["sample_time_s"] + r["metrics"]["score_time_s"] for r in results)
        label = f"{st.section} {st.title}" + (f" ({', '.join(values)})" if values else "")
        rows.append({"study": label, "runs": len(results),
                     "training (min)": round(train / 60, 1), "sampling + scoring (min)": round(sample / 60, 1)})
    return pd.DataFrame(rows)
