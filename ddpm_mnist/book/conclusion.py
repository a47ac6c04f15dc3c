"""The conclusion's claims, computed from the stored results, each naming the chapter that shows it.

:func:`verdict_groups` sorts the report's studies by their verdict (one row each of
:func:`.analysis.summary`: confirmed, contradicted, not separable at this budget, not measured yet);
:func:`beyond_findings` keeps, chapter by chapter of the part "Beyond the report", the change
whose paired interval against the tuned U-Net excludes zero by the widest margin. Both return
MyST text with ``{doc}`` links, glued into ``book/conclusion.md`` with the ``:myst`` format.
:func:`at_a_glance` computes them once with the headline that both the conclusion and the
introduction (``book/intro.md``, with :func:`glance_markdown`'s table) open with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..studies.beyond import BEYOND
from ..studies.plan import tuned_row
from ..studies.report import STUDIES
from .analysis import fid_text, named_value, sampling_spread
from .analysis import summary as study_summary
from .best import against_baseline, beyond_cells
from .verdicts import ALPHA, CONFIRMED, CONTRADICTED, NOT_MEASURED, NOT_SEPARABLE, Interval, listing

CHAPTERS = {"models": "unet", "fewer-steps": "beyond-ddim", "ema": "beyond-ema", "eps-fixes": "beyond-eps",
            "fashion": "beyond-fashion", "guidance": "beyond-guidance", "sampler": "tuned", "sampler-baseline": "tuned",
            "fid-noise": "evaluation"}
"""The book page of a study whose page is not named after it."""


def chapter_of(name: str) -> str:
    """The book page (Sphinx docname under ``book/``) that shows study ``name``."""
    return CHAPTERS.get(name, name)


def _study_link(name: str) -> str:
    st = STUDIES[name]
    return f"{st.title[0].lower()}{st.title[1:]} ({st.section}, {{doc}}`{chapter_of(name)}`)"


def _studies(n: int) -> str:
    return f"{n} stud{'y' if n == 1 else 'ies'}"


def verdict_groups(summary: pd.DataFrame) -> dict[str, str]:
    """Sentences for the report's studies by verdict, from :func:`.analysis.summary` (indexed by
    study name): ``holds``, ``contradicted``, ``open`` (not separable at this budget) and
    ``pending`` (not measured yet), each "" when no study has that verdict, and ``count``
    ("of the report's 8 studies, 3 confirmed, ... and 1 not separable"). Contradictions
    carry their evidence (the value that beats the choice, by how much, with its interval)."""
    by = {word: [name for name, row in summary.iterrows() if row["verdict"] == word]
          for word in (CONFIRMED, CONTRADICTED, NOT_SEPARABLE, NOT_MEASURED)}
    n = len(summary)
    out = {"holds": "", "contradicted": "", "open": "", "pending": ""}
    if by[CONFIRMED]:
        out["holds"] = (f"The report's choice holds in {len(by[CONFIRMED])} of {_studies(n)}: "
                        f"{listing([_study_link(s) for s in by[CONFIRMED]])}. ")
    if by[CONTRADICTED]:
        out["contradicted"] = (f"It is contradicted in {_studies(len(by[CONTRADICTED]))}: "
                               + "; ".join(f"{_study_link(s)}, where {summary.loc[s, 'evidence']}" for s in by[CONTRADICTED])
                               + ". ")
    if by[NOT_SEPARABLE]:
        out["open"] = (f"This budget cannot separate the values of {_studies(len(by[NOT_SEPARABLE]))}: "
                       f"{listing([_study_link(s) for s in by[NOT_SEPARABLE]])}. ")
    if by[NOT_MEASURED]:
        out["pending"] = (f"No value of {_studies(len(by[NOT_MEASURED]))} can be set against the report's choice yet "
                          f"(its results are still being computed): {listing([_study_link(s) for s in by[NOT_MEASURED]])}. ")
    counts = [f"{len(by[CONFIRMED])} confirmed", f"{len(by[CONTRADICTED])} contradicted", f"{len(by[NOT_SEPARABLE])} not separable"]
    out["count"] = (f"of the report's {_studies(n)}, {listing(counts + ([f'{len(by[NOT_MEASURED])} not measured yet'] if by[NOT_MEASURED] else []))}")
    return out


def beyond_findings(profile: str, results_dir: str | Path | None = None, k: int = 3,
                    compared: list[tuple[str, pd.Series, Interval]] | None = None) -> list[dict]:
    """Up to ``k`` changes beyond the report that beat the tuned U-Net at its training budget,
    one per chapter (the largest gap of each), largest first. Every cell of those chapters at
    the tuned U-Net's epochs (not Fashion-MNIST, scored in other features) is compared with the
    tuned U-Net on their common seeds (paired bootstrap with the FID's sampling noise, seed
    residuals pooled over the cells' networks, each once, Bonferroni over all the cells); a change is kept when its
    interval excludes zero. Each: ``name``, ``chapter``, ``label``, ``fid`` (mean ± SD, seeds),
    ``gap`` (tuned minus it), ``interval`` (:class:`~.verdicts.Interval`), ``level``. ``compared``:
    :func:`beyond_intervals` already computed for the same profile."""
    compared = beyond_intervals(profile, results_dir) if compared is None else compared
    best: dict[str, dict] = {}
    for name, row, iv in compared:
        if iv.n and iv.above_zero and (name not in best or iv.mean > best[name]["gap"]):
            best[name] = {"name": name, "chapter": chapter_of(name), "label": named_value(BEYOND[name], row["value"]),
                          "gap": iv.mean, "interval": iv, "fid": fid_text(row["fid_mean"], row["fid_std"], row["n_seeds"]),
                          "level": 1 - ALPHA / len(compared)}
    return sorted(best.values(), key=lambda f: -f["gap"])[:k]


def beyond_intervals(profile: str, results_dir: str | Path | None = None) -> list[tuple[str, pd.Series, Interval]]:
    """Every measured cell of the part beyond the report at the tuned U-Net's epochs (chapter
    name, study row, the tuned U-Net's FID minus the cell's with its Bonferroni interval, as
    :func:`beyond_findings` compares them); the interval is NaN while no seed noise can be pooled
    (every cell with one seed)."""
    base = tuned_row(profile, results_dir)
    cells = [(name, row) for name, row in beyond_cells(profile, results_dir) if not np.isnan(row["fid_mean"])]
    if not cells or base["n_seeds"] == 0:
        return []
    sd = sampling_spread(profile, results_dir)
    rows = [row for _, row in cells]
    return [(name, row, against_baseline(base, row, rows, len(rows), sd)) for name, row in cells]


def beyond_lead(findings: list[dict], compared: list[tuple[str, pd.Series, Interval]]) -> str:
    """The conclusion's one-line headline beyond the report: the largest finding with its
    interval, or why there is none (no cell with an interval yet, or none beyond it)."""
    if findings:
        f = findings[0]
        return (f"the largest gain beyond the report is {f['label']}, lower than the tuned U-Net by {f['gap']:.2f} FID "
                f"(interval {f['interval'].low:+.2f} to {f['interval'].high:+.2f})")
    if not compared:
        return "no change beyond the report is measured yet"
    if not any(not np.isnan(iv.low) for _, _, iv in compared):
        return "the changes beyond the report have too few seeds yet for an interval against the tuned U-Net"
    return "no change beyond the report separates from the tuned U-Net"


def at_a_glance(profile: str, results_dir: str | Path | None = None) -> dict:
    """Everything the book's headline rests on, computed once: ``summary``
    (:func:`.analysis.summary`), ``groups`` (:func:`verdict_groups` of it), ``compared``
    (:func:`beyond_intervals`), ``findings`` (:func:`beyond_findings` over those) and
    ``headline``: one sentence, the verdict count of the report's studies and the largest gain
    beyond the report with its interval (the conclusion's and the introduction's finding)."""
    table = study_summary(profile, results_dir)
    groups = verdict_groups(table)
    compared = beyond_intervals(profile, results_dir)
    findings = beyond_findings(profile, results_dir, compared=compared)
    return {"summary": table, "groups": groups, "compared": compared, "findings": findings,
            "headline": f"At this budget, {groups['count']}; {beyond_lead(findings, compared)}."}


def glance_markdown(summary: pd.DataFrame) -> str:
    """The introduction's short form of :func:`.analysis.summary` as a MyST table: per study of
    the report, its name as a link to its chapter, the report's choice, our best value and the
    verdict."""
    lines = ["| study | the report's choice | our best | verdict |", "| --- | --- | --- | --- |"]
    choice = "report's choice"
    lines += [f"| {{doc}}`{row['study']} <{chapter_of(name)}>` | {row[choice]} | {row['our best']} | {row['verdict']} |"
              for name, row in summary.iterrows()]
    return "\n".join(lines)


def beyond_text(findings: list[dict], base_fid: str, compared: list[tuple[str, pd.Series, Interval]] | None = None) -> str:
    """The findings of :func:`beyond_findings` as one MyST paragraph against the tuned U-Net's
    FID ``base_fid``, or a sentence saying that none is separable (or, given the cells
    ``compared`` by :func:`beyond_intervals`, that none has an interval yet)."""
    if not findings and compared == []:
        return f"No change beyond the report is measured yet (the tuned U-Net: FID {base_fid})."
    if not findings and compared and not any(not np.isnan(iv.low) for _, _, iv in compared):
        return ("The changes beyond the report have one seed each so far, too few for an interval against the "
                f"tuned U-Net (FID {base_fid}); their chapters give the single-seed numbers.")
    if not findings:
        return ("No change beyond the report is better than the tuned U-Net beyond its interval at this budget "
                f"(the tuned U-Net: FID {base_fid}).")
    level = findings[0]["level"]
    parts = [f"{f['label']} ({{doc}}`{f['chapter']}`), FID {f['fid']}, lower by {f['gap']:.2f} "
             f"(interval {f['interval'].low:+.2f} to {f['interval'].high:+.2f})" for f in findings]
    return (f"Against the tuned U-Net's FID {base_fid}, the changes that beat it beyond their "
            f"{level:.1%} intervals (Bonferroni over every cell compared) are, the largest of each chapter, largest first: "
            + "; ".join(parts) + ".")
