"""The best cell against the baseline: the lowest FID among the report's one-setting changes of the
baseline U-Net (the conclusion's "best configuration") and among the part "Beyond the report"
(its summary table and headline), each with its paired gap to the baseline, an interval corrected
for picking the lowest of many cells, and what the cell spends that the baseline does not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..studies import runner
from ..studies.beyond import BEYOND, TUNED
from ..studies.plan import BEYOND_RUNS, RULE_SEEDS, tuned_row
from ..studies.profiles import get_profile, results_dir_for
from ..studies.registry import get_study
from ..studies.report import STUDIES
from .analysis import fid_text, merge_shared_runs, named_value, paired_gap, sampling_spread
from .costs import cost_text
from .verdicts import ALPHA, Interval, by_seed, differences, paired_interval, seed_residuals


def beyond_summary(profile: str, results_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per study of the part "Beyond the report", from stored results: its best
    configuration other than the tuned U-Net itself, and its FID (mean over the seeds stored,
    column ``seeds``), beside the tuned U-Net's (mean over its seeds; for a training length, the
    tuned U-Net trained as long, on the same seeds)."""
    prof = get_profile(profile)
    results_dir = results_dir_for(profile, results_dir)
    tuned = tuned_row(profile, results_dir)
    rows = []
    for name in dict.fromkeys(name for name, _, _ in BEYOND_RUNS):
        st = BEYOND[name]
        t = runner.tabulate(st, prof, RULE_SEEDS, results_dir)
        t = merge_shared_runs(t[t["run"] != prof.apply(TUNED).hash()])  # the reference row is the last column; capped lengths are one run
        done = t[t["fid_mean"].notna()]
        best = done.loc[done["fid_mean"].idxmin()] if len(done) else None
        reference, note = tuned["fid_mean"], "fashion-cnn features: not comparable" if name == "fashion" else ""
        if st.param == "epochs" and best is not None:  # a training length: against the tuned U-Net trained as long, same seeds
            lengths = merge_shared_runs(runner.tabulate(get_study("epochs"), prof, list(best["seeds"]), results_dir)).set_index("value")
            reference, note = lengths.loc[best["value"], "fid_mean"], "tuned U-Net FID at the same length and seeds (the epochs study)"
        rows.append({
            "chapter": st.title,
            "runs stored": f"{len(done)} of {len(t)}",
            "best configuration": "—" if best is None else named_value(st, best["value"]),
            "its FID": np.nan if best is None else best["fid_mean"],
            "seeds": 0 if best is None else int(best["n_seeds"]),
            "tuned U-Net FID": reference,
            "note": note,
        })
    return pd.DataFrame(rows)


def best_configuration(profile: str, results_dir: str | Path | None = None) -> dict[str, str]:
    """The lowest FID among the report's U-Net studies (each a one-parameter change of the
    baseline; not the epochs study, which changes the budget) at ``profile``, against the
    baseline: ``best`` (study and value), ``best_fid`` (mean ± std, seeds), ``baseline_fid``,
    ``gap`` (baseline minus best), ``paired`` (the gap on the seeds both have, when their seeds
    differ; else ""), ``interval`` (that gap's paired interval, Bonferroni over every cell
    measured), ``spread`` (the baseline's seed std), ``verdict`` (whether the interval excludes
    zero, in words) and ``cost`` (what the best spends beside the baseline, :func:`~ddpm_mnist.book.costs.cost_text`).
    "—" where results are missing."""
    prof = get_profile(profile)
    results_dir = results_dir_for(profile, results_dir)
    baseline = prof.study_config(STUDIES["models"], "unet").hash()
    cells = [(f"{st.title.lower()} = {row['value']}", row, prof.study_config(st, value).hash() == baseline)
             for name, st in STUDIES.items() if name not in ("models", "epochs")
             for value, (_, row) in zip(st.values, runner.tabulate(st, prof, RULE_SEEDS, results_dir).iterrows())]
    return _best_against_baseline(cells, tuned_row(profile, results_dir), sampling_spread(profile, results_dir))


def beyond_cells(profile: str, results_dir: str | Path | None = None) -> list[tuple[str, pd.Series]]:
    """(study name, row of its table) for every cell of the part "Beyond the report" at the tuned
    U-Net's training budget, other than the tuned U-Net's own run: not the Fashion-MNIST chapter
    (its FID is in other features) nor the longer runs of the EMA chapter's trajectory."""
    prof = get_profile(profile)
    results_dir = results_dir_for(profile, results_dir)
    tuned = prof.apply(TUNED)
    cells = []
    for name in dict.fromkeys(name for name, _, _ in BEYOND_RUNS):
        if name == "fashion":
            continue
        for value, (_, row) in zip(BEYOND[name].values, runner.tabulate(BEYOND[name], prof, RULE_SEEDS, results_dir).iterrows()):
            config = prof.study_config(BEYOND[name], value)
            if row["run"] != tuned.hash() and config.epochs == tuned.epochs:
                cells.append((name, pd.concat([row, pd.Series({"network": config.train_hash()})])))
    return cells


def one_per_network(rows: Sequence[pd.Series]) -> list[pd.Series]:
    """One row per trained network among study ``rows``: rows with the same ``network`` entry (the
    training hash that :func:`beyond_cells` adds; a sampler study's settings, or a guidance
    study's scales, sample one network per seed) carry that network's seed noise once, through
    the row with the most seeds (the first of a tie); a row without the entry is its own network."""
    kept: dict[Any, pd.Series] = {}
    for i, row in enumerate(rows):
        key = row.get("network")
        key = key if isinstance(key, str) else i
        if key not in kept or len(row["seeds"]) > len(kept[key]["seeds"]):
            kept[key] = row
    return list(kept.values())


def best_beyond(profile: str, results_dir: str | Path | None = None) -> dict[str, str]:
    """:func:`best_configuration` for the part "Beyond the report": the lowest MNIST FID among
    :func:`beyond_cells`, with the same keys, ``best`` naming the value and, in quotes, its chapter."""
    cells = [(f"{named_value(BEYOND[name], row['value'])}, in \u201c{BEYOND[name].title}\u201d", row, False)
             for name, row in beyond_cells(profile, results_dir)]
    return _best_against_baseline(cells, tuned_row(profile, results_dir), sampling_spread(profile, results_dir))


def against_baseline(base: pd.Series, row: pd.Series, pool: Sequence[pd.Series], m: int, sampling_sd: float = float("nan")) -> Interval:
    """``base``'s FID minus ``row``'s on their common seeds, with a percentile bootstrap interval
    (:func:`~ddpm_mnist.book.verdicts.paired_interval`) at level ``1 - 0.05 / m`` for a pick among
    ``m`` cells (Bonferroni), seed residuals pooled over the rows ``pool`` against ``base``, each
    trained network once (:func:`one_per_network`), plus the FID's sampling spread ``sampling_sd``."""
    residuals = seed_residuals([differences(by_seed(base), by_seed(r)) for r in one_per_network(pool)])
    return paired_interval(by_seed(base), by_seed(row), 1 - ALPHA / m, 0.0 if np.isnan(sampling_sd) else sampling_sd,
                           residuals=residuals)


def _paired_text(worse: pd.Series, better: pd.Series) -> str:
    """"" when both rows have the same seeds; otherwise a clause on the gap over the seeds they
    share, to follow a sentence without its full stop ("… . On the seed both have (0) the gap
    is 3.20")."""
    if sorted(worse["seeds"]) == sorted(better["seeds"]):
        return ""
    common, gap = paired_gap(worse, better)
    if not common:
        return ". They share no seed yet"
    return (f". On the seed{'s' if len(common) > 1 else ''} both have ({', '.join(map(str, common))}) the gap is {gap:.2f}"
            + (": the order reverses" if gap < 0 else ""))


def _best_against_baseline(cells: list[tuple[str, pd.Series, bool]], base: pd.Series, sampling_sd: float = float("nan")) -> dict[str, str]:
    """The keys of :func:`best_configuration` for the lowest-FID cell of ``cells`` (label, study
    row, whether it is the baseline's own run) against the baseline's row ``base``: the paired gap
    on common seeds with its interval (:func:`against_baseline`, Bonferroni over the cells measured),
    and ``cost`` (:func:`~ddpm_mnist.book.costs.cost_text`)."""
    out = dict.fromkeys(["best", "best_fid", "baseline_fid", "gap", "interval", "spread", "verdict"], "—") | {"paired": "", "cost": ""}
    out["baseline_fid"] = fid_text(base["fid_mean"], base["fid_std"], base["n_seeds"])
    out["spread"] = "—" if np.isnan(base["fid_std"]) else f"{base['fid_std']:.2f}"
    cells = [c for c in cells if not np.isnan(c[1]["fid_mean"])]
    if cells:
        label, row, is_base = min(cells, key=lambda c: c[1]["fid_mean"])
        gap = base["fid_mean"] - row["fid_mean"]
        out.update(best="the baseline itself" if is_base else label,
                   best_fid=fid_text(row["fid_mean"], row["fid_std"], row["n_seeds"]), gap="—" if np.isnan(gap) else f"{gap:.2f}",
                   paired="" if is_base else _paired_text(base, row), cost="" if is_base else cost_text(base, row))
        if is_base:
            out["verdict"] = "nil: no alternative the report tried beats its final configuration here"
        else:
            interval = against_baseline(base, row, [r for _, r, own in cells if not own], len(cells), sampling_sd)
            out["interval"] = interval.text()
            if interval.n and not np.isnan(interval.low):
                level = f"{1 - ALPHA / len(cells):.1%} interval (Bonferroni over {len(cells)} cells), {interval.low:+.2f} to {interval.high:+.2f},"
                out["verdict"] = (f"an improvement at this budget: its {level} excludes zero" if interval.above_zero
                                  else f"not separable from the baseline at this budget: its {level} includes zero")
            elif interval.n:
                out["verdict"] = ("without an interval yet: no cell compared has a second seed in common with the baseline, "
                                  "so there is no seed noise to read the gap against")
            else:
                out["verdict"] = "without an interval yet: the two share no seed"
    return out
