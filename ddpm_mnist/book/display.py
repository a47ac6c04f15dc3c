"""The book's display: what a chapter calls to show a study (tables, plots, grids) and to glue
the numbers its prose quotes (myst-nb). Needs IPython; the numbers come from
:mod:`ddpm_mnist.book.analysis`.

A study chapter is three calls::

    table = book.run_study("batch-size", profile, seeds, results_dir, device)
    book.show(table, "batch-size", profile, seeds, results_dir)
    book.grids("batch-size", profile, seeds, results_dir)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..studies import runner
from ..studies.registry import get_study
from . import analysis, plots
from .analysis import PARAM_LABELS, display_table
from .records import provenance


def _nothing_yet(name: str, profile: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(f"*No stored results of the {name} study at the `{profile}` profile yet.*"))


def show_figure(fig) -> None:
    """Display a matplotlib figure in the notebook once, and close it (no second copy at the
    end of the cell, no figures piling up in memory)."""
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
        r = next((rs[0] for rs in runner.study_results(name, profile, seeds[:1], results_dir).values()), None)
        label = f"{r['metrics']['features']}, n={r['metrics']['n_samples']}" if r else "no results"
        show_figure(plots.study_plot(table, f"{st.section} {st.title}", PARAM_LABELS.get(st.param, st.param), label))


def grids(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None,
          values: Sequence[Any] | None = None, columns: int = 4) -> None:
    """Show 100 samples of the first seed per value, captioned with that run's FID."""
    by_value = runner.study_results(name, profile, seeds[:1], results_dir, values)
    if not by_value:
        return _nothing_yet(name, profile)
    samples = {k: v[0]["samples"] for k, v in by_value.items()}
    epochs = get_study(name).param == "epochs"  # the report's epochs label the rows; say what was trained
    captions = {k: (f"{k} (trained {v[0]['train']['epochs']:g})" if epochs else k) + f": FID {v[0]['metrics']['fid']:.1f}"
                for k, v in by_value.items()}
    show_figure(plots.sample_grids(samples, columns=columns, caption=captions))


def training_and_digits(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None,
                        values: Sequence[Any] | None = None) -> None:
    """Show the training-loss curves and the classifier's digit histograms (first seed per value)."""
    by_value = runner.study_results(name, profile, seeds[:1], results_dir, values)
    if not by_value:
        return _nothing_yet(name, profile)
    show_figure(plots.loss_curves({k: v[0]["train"]["loss_curve"] for k, v in by_value.items()}))
    show_figure(plots.digit_histograms({k: v[0]["metrics"]["digits"]["histogram"] for k, v in by_value.items()}))


def verdict(table: pd.DataFrame, name: str, prefix: str, profile: str, results_dir: str | Path | None = None,
            reference: str = "the report's choice") -> dict[str, Any]:
    """Show the study's paired comparisons with the report's choice and glue its verdict for the
    prose: ``<prefix>_verdict`` (one of three words), ``<prefix>_verdict_why`` (the evidence) and
    ``<prefix>_finding`` (:func:`~ddpm_mnist.book.analysis.finding`, for the chapter's opening admonition).
    The intervals include the FID's sampling spread at ``profile`` (:func:`~ddpm_mnist.book.analysis.sampling_spread`).
    ``reference``: what the table's note calls the value the others are compared with (the
    protocol study's is the book's previous protocol, not a choice of the report)."""
    from IPython.display import Markdown, display

    found = analysis.study_verdict(table, name, analysis.sampling_spread(profile, results_dir))
    level = found["comparisons"]["level"]
    m = sum(c.n > 0 for c in found["comparisons"]["fid"]) if len(level) else 0
    over = f"{m} value{'s' if m != 1 else ''}" + (f" of {len(level)}; the others share no seed with the choice yet" if m < len(level) else "")
    note = (f"Each value minus {reference}, on their common seeds; negative FID is better, negative precision or "
            f"recall worse. Percentile bootstrap over seeds with the FID's sampling noise, {level.iloc[0]:.1%} intervals "
            f"(Bonferroni over {over}).") if m else f"No value shares a seed with {reference} yet."
    if m:
        display(analysis.comparison_table(found["comparisons"]).style.hide(axis="index"))
    display(Markdown(note))
    glue_all({f"{prefix}_verdict": found["verdict"], f"{prefix}_verdict_why": found["why"],
              f"{prefix}_finding": analysis.finding(found, table, name)})
    return found


def glue_text(key: str, value: Any) -> None:
    """Glue (myst-nb) ``value`` as Markdown text under ``key``, for ``{glue:md}`key``` in the
    prose (a plain ``glue`` of a string would show its quotes)."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(key, Markdown(str(value)), display=False)


def glue_run(name: str, profile: str, value: Any, prefix: str, seeds: Sequence[int] = (0,),
             results_dir: str | Path | None = None) -> dict[str, str]:
    """Glue :func:`~ddpm_mnist.book.analysis.run_values` (one study cell) for the prose; returns them too."""
    return glue_all(analysis.run_values(name, profile, value, prefix, seeds, results_dir))


def glue_study(table: pd.DataFrame, name: str, prefix: str, sampling_sd: float = float("nan"), sampling: bool = False) -> dict[str, str]:
    """Glue :func:`~ddpm_mnist.book.analysis.study_values` (a study's best value, margins, orders)
    for the prose; returns them too."""
    return glue_all(analysis.study_values(table, name, prefix, sampling_sd, sampling))


def glue_all(values: dict[str, Any]) -> dict[str, Any]:
    """:func:`glue_text` every ``key: value`` of ``values``; returns ``values``."""
    for key, value in values.items():
        glue_text(key, value)
    return values
