"""A study's table read for the book: pure functions over stored results and study tables (no IPython).

Study tables come from :func:`ddpm_mnist.studies.runner.tabulate`. Here they become what a
chapter shows and quotes: the displayed table, the order of its values, the lead sentence, the
margin of the best over the runner-up, the comparisons with the report's choice and the verdict
with its finding, and the one-row-per-study summary. Everything returns numbers, strings or data
frames that :mod:`ddpm_mnist.book.display` shows or glues into the prose, so the text and the
tables cannot disagree, and each can be unit-tested. Their neighbours: :mod:`.best` (the best
cell against the baseline), :mod:`.costs` (what a value spends), :mod:`.appearance` (what the
samples look like), :mod:`.blind_spots`, :mod:`.protocol` and :mod:`.records`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..studies import runner
from ..studies.beyond import BEYOND
from ..studies.plan import RULE_SEEDS, tuned_row
from ..studies.profiles import get_profile, results_dir_for
from ..studies.registry import get_study
from ..studies.report import STUDIES
from .verdicts import ALPHA, Interval, by_seed, compare_with_choice, listing, paired_interval, study_residuals, verdict

PARAM_LABELS = {
    "batch_size": "batch size", "epochs": "epochs (report)", "loss": "loss", "model_options.channels": "channels",
    "T": "noising steps T", "schedule": "noising process", "value_range": "normalization range", None: "model",
    "guidance": "guidance scale w", "variance": "sampler variance", "sample_seed": "sampling seed",
}


def sampling_spread(profile: str, results_dir: str | Path | None = None) -> float:
    """The FID's standard deviation over sampling seeds for one fixed network (the ``fid-noise``
    study: the tuned U-Net's longest run, seed 0, sampled with eight seeds); NaN until two are
    stored. The yardstick for rows that differ only in how one network is sampled."""
    prof = get_profile(profile)
    table = runner.tabulate(BEYOND["fid-noise"], prof, [0], results_dir_for(profile, results_dir))
    return float(table["fid_mean"].std())


def display_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The study table as the book shows it: the report's FID beside ours, best values marked;
    the optimiser steps and parameter counts only where the study changes them."""
    st = get_study(name)
    lowest = lowest_rows(table, st)
    ours = [
        "—" if np.isnan(m) else f"{m:.2f}" + ("" if np.isnan(s) else f" ± {s:.2f}") + (" ★" if b else "")
        for m, s, b in zip(table["fid_mean"], table["fid_std"], lowest)
    ]
    report = [("not printed" if r is None or (isinstance(r, float) and np.isnan(r)) else f"{r:.1f}") + (" ★" if b else "")
              for r, b in zip(table["report_fid"], table["report_best"])]
    out = pd.DataFrame({
        "configuration" if st.configs else PARAM_LABELS.get(st.param, st.param): table["value"],
        "epochs (ours)": [f"{e:g}" for e in table["epochs"]] if "epochs" in table else "—",
        "report FID (Inception; ★ its choice)": report,
        "our FID (mean ± SD over seeds; ★ lowest)" if lowest.any() else "our FID (mean ± SD over seeds)": ours,
        "seeds": table["n_seeds"],
        "images seen": _counts(table["images_seen"]),
        "optimiser steps": _counts(table["steps"]),
        "parameters": _counts(table["parameters"]),
        "train time": [("—" if np.isnan(t) else f"{t / 60:.1f} min") for t in table["train_time_s"]],
        "digits covered (fewest over seeds)": [("—" if np.isnan(c) else int(c)) for c in table["classes_covered"]],
    })
    for column, key, digits in (("precision", "precision", 3), ("recall", "recall", 3), ("class KL", "class_kl", 3)):
        if f"{key}_mean" in table and table[f"{key}_mean"].notna().any():  # results stored since the metric exists
            out[column] = ["—" if np.isnan(v) else f"{v:.{digits}f}" for v in table[f"{key}_mean"]]
    # steps and parameters that a study does not change (most studies) would only repeat themselves
    same = [c for c, k in {"optimiser steps": "steps", "parameters": "parameters"}.items() if table[k].dropna().nunique() <= 1]
    drop = same + ([] if st.report_fid else ["report FID (Inception; ★ its choice)"]) + ([] if st.param == "epochs" else ["epochs (ours)"])
    return out.drop(columns=drop)


def lowest_rows(table: pd.DataFrame, st) -> pd.Series:
    """Which rows of a study table get the star of the lowest FID: the lowest mean among the rows
    with the most seeds (up to three), so that a one-seed value does not outshine three-seed
    means; none when the rows are scored in different feature spaces (not comparable)."""
    scoring = {(c.dataset, c.fid_features) for c in (st.config_for(v) for v in st.values)}
    enough = table["n_seeds"] >= min(3, int(table["n_seeds"].max() or 0))
    means = table["fid_mean"].where(enough & table["fid_mean"].notna())
    if len(scoring) > 1 or means.isna().all():
        return pd.Series(False, index=table.index)
    return means == means.min()


def _counts(column: pd.Series) -> list[str]:
    return ["—" if np.isnan(v) else f"{int(v):,}" for v in column]


def named_value(st, value: str) -> str:
    """A study value as a reader needs it out of its table: "200 epochs", "guidance = 1", "v-l2"."""
    if st.param == "epochs":
        return f"{value} epochs"
    if st.param is None or any(ch.isalpha() for ch in value):
        return value
    return f"{PARAM_LABELS.get(st.param, st.param).removesuffix(' w')} = {value}"


def tuned_reference(profile: str, results_dir: str | Path | None = None) -> str:
    """One sentence with the tuned U-Net's FID over its seeds (the yardstick of the part "Beyond the report")."""
    row = tuned_row(profile, results_dir)
    if row["n_seeds"] == 0:
        return f"The tuned U-Net has no stored result at the `{profile}` profile yet."
    spread = "" if np.isnan(row["fid_std"]) else f" ± {row['fid_std']:.2f}"
    return (f"For comparison, the tuned U-Net (the report's final configuration at this profile's budget, "
            f"{int(row['n_seeds'])} seed{'s' if row['n_seeds'] > 1 else ''}) scores FID {row['fid_mean']:.2f}{spread}.")


def seed_span_text(profile: str, results_dir: str | Path | None = None) -> str:
    """One sentence setting the baseline's spread over its seeds (:data:`~ddpm_mnist.studies.plan.RULE_SEEDS`; span =
    highest minus lowest FID) against the differences the report ranks its choices by: the
    seed-0 FID of each value of its U-Net studies (not the model comparison) minus that of the
    report's choice, each run once (values that share the choice's run left out)."""
    base = tuned_row(profile, results_dir)
    if base["n_seeds"] < 2:
        return "The baseline's spread over seeds is not measured yet (it needs two seeds)."
    span = max(base["fids"]) - min(base["fids"])
    prof, folder = get_profile(profile), results_dir_for(profile, results_dir)
    gaps = []
    for name, st in STUDIES.items():
        if name == "models":
            continue
        t = runner.tabulate(st, prof, [0], folder).set_index("value")
        choice = t.loc[st.label(st.report_choice)]
        others = t[(t["run"] != choice["run"]) & t["fid_mean"].notna()].drop_duplicates("run")  # a shared run counts once
        gaps += list((others["fid_mean"] - choice["fid_mean"]).abs().dropna())
    if not gaps:
        return (f"The seeds span {span:.2f} FID (standard deviation {base['fid_std']:.2f}); no study value has a seed-0 "
                "result to set it against yet.")
    smaller = sum(g < span for g in gaps)
    return (f"The seeds span {span:.2f} FID (standard deviation {base['fid_std']:.2f}): wider than {smaller} of the "
            f"{len(gaps)} differences between a value of the report's U-Net studies and the report's choice (seed 0 "
            f"each), which the report ranks its choices by.")


def paired_gap(worse: pd.Series, better: pd.Series) -> tuple[list[int], float]:
    """The seeds two study rows (``tabulate``) both have, and ``worse``'s mean FID minus
    ``better``'s over those seeds only: a seed fixes the initial weights and the data order, so
    a difference on common seeds is not confounded by which seeds each row happens to have."""
    a, b = dict(zip(worse["seeds"], worse["fids"])), dict(zip(better["seeds"], better["fids"]))
    common = sorted(set(a) & set(b))
    gap = float(np.mean([a[s] for s in common]) - np.mean([b[s] for s in common])) if common else float("nan")
    return common, gap


def paired_change(a: pd.Series, b: pd.Series, table: pd.DataFrame | None = None, sampling_sd: float = float("nan"),
                  level: float = 1 - ALPHA, sampling: bool = False) -> Interval:
    """``a``'s FID minus ``b``'s (rows of ``tabulate``) on their common seeds, with a percentile
    bootstrap interval at ``level`` (:func:`~ddpm_mnist.book.verdicts.paired_interval`): seed
    residuals pooled over the rows of ``table`` against ``b`` when given (else ``a`` and ``b``
    alone), plus the FID's sampling spread ``sampling_sd``. ``sampling``: the rows sample one
    network in different ways, so only the sampling noise enters. For comparisons a chapter names
    in advance (no correction for picking among many)."""
    if sampling:
        pool = np.zeros(1)
    else:
        b_value = b["value"] if "value" in b.index else b.name  # a row of the table, or of the table indexed by value
        pool = study_residuals(table[table["value"] != b_value] if table is not None else pd.DataFrame([a]), b, "fids")
    sd = 0.0 if np.isnan(sampling_sd) else sampling_sd
    return paired_interval(by_seed(a), by_seed(b), level, sd, residuals=pool)


def separable(iv: Interval) -> str:
    """"separable" when the interval excludes zero, "not separable" when it includes it, "not
    measured" without one."""
    if iv.n == 0 or np.isnan(iv.low):
        return "not measured"
    return "separable" if iv.below_zero or iv.above_zero else "not separable"


def merge_shared_runs(table: pd.DataFrame) -> pd.DataFrame:
    """A study table (``tabulate``) with one row per run, in its order: values that share a run
    (the epochs a profile caps) become one row labelled "200 = 1000" (column ``values``: the
    labels it stands for)."""
    run = table["run"] if "run" in table else table["value"]
    values = run.map(table.groupby(run, sort=False)["value"].agg(list))
    return table.assign(values=values, value=values.map(" = ".join))[~run.duplicated()]


def ranked_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a study table (``tabulate``) that have a result, best FID first, one per run
    (:func:`merge_shared_runs`), so that a run is never its own runner-up."""
    table = merge_shared_runs(table)
    return table[table["fid_mean"].notna()].sort_values("fid_mean", kind="stable")


def order_text(table: pd.DataFrame) -> str:
    """The values of a study table (``tabulate``) that have a result, ours and the report's in
    FID order, best first: "ours: b < a < c; the report's: a < b < c" (values sharing a run
    joined as in :func:`ranked_runs`; the report's order over the same values, where it has them)."""
    ranked = ranked_runs(table)
    if not len(ranked):
        return "not measured yet"
    ours = " < ".join(ranked["value"])
    if "report_fid" not in table:  # a study the report has no numbers for
        table = table.assign(report_fid=np.nan)
    done = table[table["fid_mean"].notna() & table["report_fid"].notna()]
    theirs = " < ".join(done.sort_values("report_fid", kind="stable")["value"])
    return f"ours: {ours}; the report's: {theirs}" if len(done) > 1 else f"ours: {ours}"


def versus_choice(table: pd.DataFrame, name: str, prefix: str, sampling_sd: float = float("nan")) -> dict[str, str]:
    """``<prefix>_ahead`` and ``<prefix>_behind``: the values of a study table (``tabulate``)
    better, or worse, than ours at the report's choice beyond their paired interval
    (:func:`~ddpm_mnist.book.verdicts.compare_with_choice`: common seeds, Bonferroni over the
    values, the FID's sampling spread ``sampling_sd``), as "64 (46.78), 32 (55.71)" best first, or
    "none"; "—" for both while the report's choice has no result or no interval can be formed."""
    st = get_study(name)
    choice = table[table["report_best"] & table["fid_mean"].notna()]
    if not len(choice):
        return {f"{prefix}_ahead": "—", f"{prefix}_behind": "—"}
    comparisons = compare_with_choice(table, st.label(st.report_choice), 0.0 if np.isnan(sampling_sd) else sampling_sd)
    measured = comparisons[[c.n > 0 and not np.isnan(c.low) for c in comparisons["fid"]]] if len(comparisons) else comparisons
    if not len(measured):
        return {f"{prefix}_ahead": "—", f"{prefix}_behind": "—"}
    mean_fid = dict(zip(table["value"], table["fid_mean"]))

    def listed(rows: pd.DataFrame) -> str:
        rows = sorted(rows["value"], key=lambda v: mean_fid[v])
        return ", ".join(f"{v} ({mean_fid[v]:.2f})" for v in rows) or "none"

    return {f"{prefix}_ahead": listed(measured[[c.below_zero for c in measured["fid"]]]),
            f"{prefix}_behind": listed(measured[[c.above_zero for c in measured["fid"]]])}


def margin_interval(ranked: pd.DataFrame, sampling_sd: float = float("nan"), sampling: bool = False) -> Interval:
    """The runner-up's FID minus the best's (rows 1 and 0 of :func:`ranked_runs`) with its 95%
    interval (:func:`paired_change`, seed residuals pooled over the study's values)."""
    return paired_change(ranked.iloc[1], ranked.iloc[0], ranked, sampling_sd, sampling=sampling)


def noise_band(sampling_sd: float, n: int = 1) -> float:
    """Half-width of the 95% interval of a difference between two FIDs of one training run each
    (or means over ``n`` seeds of them) that differ only by the sampling noise of standard
    deviation ``sampling_sd``: :math:`1.96\\sqrt{2/n}\\,\\sigma`."""
    return float(1.96 * np.sqrt(2 / n) * sampling_sd)


def noise_band_text(sampling_sd: float) -> str:
    """"the 95% band of the FID's sampling noise (± 2.77)": what a difference between two FIDs
    must exceed before it says more than the sampling noise."""
    return f"the 95% band of the FID's sampling noise (± {noise_band(sampling_sd):.2f})"


def fid_text(mean: float, std: float, n: int) -> str:
    """``12.34 ± 1.23 (3 seeds)``, ``12.34 (1 seed)`` or "—"."""
    if np.isnan(mean):
        return "—"
    n = int(n)
    return f"{mean:.2f}" + ("" if np.isnan(std) else f" ± {std:.2f}") + f" ({n} seed{'s' if n != 1 else ''})"


def summary(profile: str, results_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per study of the report, from stored results only (every stored seed of
    :data:`~ddpm_mnist.studies.plan.RULE_SEEDS`): the report's choice, our best value and its FID, the study's verdict
    (:func:`study_verdict`: confirmed, contradicted or not separable at this budget) with its
    evidence, and the Spearman correlation of our FIDs with the report's over the values both
    have (three or more). Indexed by the study's name."""
    prof = get_profile(profile)
    results_dir = results_dir_for(profile, results_dir)
    sd = sampling_spread(profile, results_dir)
    rows = []
    for name, st in STUDIES.items():
        t = runner.tabulate(st, prof, RULE_SEEDS, results_dir)
        done = ranked_runs(t)
        best = done.iloc[0] if len(done) else None
        both = t[t["fid_mean"].notna() & t["report_fid"].notna()]
        rho = both["fid_mean"].corr(both["report_fid"].astype(float), method="spearman") if len(both) > 2 else np.nan
        found = study_verdict(t, name, sd)
        rows.append({
            "study": f"{st.section} {st.title}",
            "report's choice": st.label(st.report_choice),
            "our best": best["value"] if best is not None else "—",
            "its FID": fid_text(best["fid_mean"], best["fid_std"], best["n_seeds"]) if best is not None else "—",
            "verdict": found["verdict"],
            "evidence": found["why"],
            "rank correlation with the report": "—" if np.isnan(rho) else f"{rho:+.2f}",
            "values run": f"{t['fid_mean'].notna().sum()} / {len(t)}",
        })
    return pd.DataFrame(rows, index=pd.Index(list(STUDIES), name="name"))


def run_values(name: str, profile: str, value: Any, prefix: str, seeds: Sequence[int] = (0,),
             results_dir: str | Path | None = None) -> dict[str, str]:
    """What the prose says of one study cell (first seed with a result): ``<prefix>_fid``
    (mean over ``seeds``), ``<prefix>_fids`` (each seed's), ``<prefix>_epochs`` (ours),
    ``<prefix>_images`` (seen in training), ``<prefix>_parameters`` (of the network), ``<prefix>_top_digit`` (the classifier's most
    frequent reading of the samples), ``<prefix>_top_share`` (its share), ``<prefix>_covered``
    (digits seen at least once) and ``<prefix>_over_seeds`` ("one seed so far", or "3 seeds: 28.99,
    30.12 and 29.40, mean 29.50"). "—" where there is no result; :func:`~ddpm_mnist.book.display.glue_run` glues them."""
    runs = runner.study_results(name, profile, seeds, results_dir, [value]).get(get_study(name).label(value), [])
    values = dict.fromkeys(["fid", "fids", "epochs", "images", "parameters", "top_digit", "top_share", "covered", "over_seeds"], "—")
    if runs:
        r, fids = runs[0], [x["metrics"]["fid"] for x in runs]
        hist = np.array(r["metrics"]["digits"]["histogram"])
        over = ("one seed so far" if len(fids) == 1 else
                f"{len(fids)} seeds: {listing([f'{f:.2f}' for f in fids])}, mean {np.mean(fids):.2f}")
        values.update(over_seeds=over, fid=f"{np.mean(fids):.2f}", fids=", ".join(f"{f:.2f}" for f in fids), epochs=f"{r['train']['epochs']:g}",
                      images=f"{r['train']['images_seen']:,}", parameters=f"{r['parameters']:,}", top_digit=str(int(hist.argmax())),
                      top_share=f"{hist.max() / hist.sum():.0%}", covered=str(r["metrics"]["digits"]["classes_covered"]))
    return {f"{prefix}_{k}": v for k, v in values.items()}


def _over(n: int) -> str:
    return f"over {n} seed{'s' if n != 1 else ''}"


def lead_text(table: pd.DataFrame, name: str) -> str:
    """The first sentence of a study's reading: the report's choice and our lowest mean FID (a
    study table, ``tabulate``). Where the best row and the choice's hold different seeds, their
    means are not comparable, and the sentence says what the seeds both have say instead
    (:func:`paired_gap`); the verdict that follows gives the interval, so the sentence ranks
    nothing by itself."""
    st = get_study(name)
    choice_label = st.label(st.report_choice)
    chosen = named_value(st, choice_label)
    ranked = ranked_runs(table)
    choice = table[table["report_best"] & table["fid_mean"].notna()]
    if not len(ranked):
        return f"The report chooses {chosen}; our runs of this study wait for results."
    best = ranked.iloc[0]
    best_fid = f"{best['fid_mean']:.2f} {_over(len(best['seeds']))}"
    if not len(choice):
        return f"The report chooses {chosen}, which has no result here yet; our lowest FID so far is at {named_value(st, best['value'])}, {best_fid}."
    choice = choice.iloc[0]
    choice_fid = f"{choice['fid_mean']:.2f} {_over(len(choice['seeds']))}"
    if choice_label in best["values"]:
        return (f"The report chooses {chosen}, at {choice_fid} here; no other value has a result yet." if len(ranked) == 1 else
                f"The report chooses {chosen}, and at this profile's budget our lowest mean FID is there too: {choice_fid}.")
    best_name, same_seeds = named_value(st, best["value"]), sorted(best["seeds"]) == sorted(choice["seeds"])
    if same_seeds and f"{best['fid_mean']:.2f}" == f"{choice['fid_mean']:.2f}":
        return (f"The report chooses {chosen}; at this profile's budget our lowest mean FID, {choice_fid}, is at {best_name} "
                "and at the report's choice alike.")
    if same_seeds:
        return (f"The report chooses {chosen}; at this profile's budget our lowest mean FID is at {best_name}, {best['fid_mean']:.2f}, "
                f"against {choice['fid_mean']:.2f} at the report's choice, {_over(len(best['seeds']))} each: by the means alone the "
                "report's choice is not our best; the verdict below says whether the seeds separate the two.")
    common, gap = paired_gap(best, choice)
    said = (f"on the {'seed' if len(common) == 1 else f'{len(common)} seeds'} both have, {best_name} scores {abs(gap):.2f} "
            f"{'higher' if gap > 0 else 'lower'} than the report's choice" if common else "the two share no seed yet")
    return (f"The report chooses {chosen}, at {choice_fid} here. The lowest mean FID is at {best_name}, {best_fid}, but the "
            f"two means are over different seeds: {said}.")


def study_values(table: pd.DataFrame, name: str, prefix: str, sampling_sd: float = float("nan"), sampling: bool = False) -> dict[str, str]:
    """The numbers a chapter's prose quotes (glued by :func:`~ddpm_mnist.book.display.glue_study`): ``<prefix>_best`` (our best value),
    ``<prefix>_best_fid``, ``<prefix>_lead`` (the reading's first sentence, :func:`lead_text`) and ``<prefix>_margin`` (the runner-up's FID
    minus our best's on their common seeds with its 95% interval, :func:`margin_interval`, and
    whether it ranks them), ``<prefix>_order`` (:func:`order_text`),
    ``<prefix>_ahead`` and ``<prefix>_behind`` (:func:`versus_choice`). ``sampling_sd``: the FID's
    sampling spread (:func:`sampling_spread`); ``sampling``: the rows are one network sampled in
    different ways, so only that noise enters the margin."""
    ranked = ranked_runs(table)
    values = {
        f"{prefix}_best": ranked["value"].iloc[0] if len(ranked) else "—",
        f"{prefix}_best_fid": f"{ranked['fid_mean'].iloc[0]:.2f}" if len(ranked) else "—",
    }
    values[f"{prefix}_order"] = order_text(table)
    values.update(versus_choice(table, name, prefix, sampling_sd))
    values[f"{prefix}_lead"] = lead_text(table, name)
    if len(ranked) < 2:
        values[f"{prefix}_margin"] = "not measured yet (it needs two values)"
        return values
    iv = margin_interval(ranked, sampling_sd, sampling)
    seeds = f"on {iv.n} common seed{'s' if iv.n != 1 else ''}"
    if iv.n == 0:
        values[f"{prefix}_margin"] = "not measured yet (the two share no seed)"
    elif np.isnan(iv.low):
        values[f"{prefix}_margin"] = f"{iv.mean:.2f} {seeds}, with no seed noise measured yet to read it against"
    else:
        where = f"{iv.mean:.2f} {seeds}, 95% interval {iv.low:+.2f} to {iv.high:+.2f}"
        values[f"{prefix}_margin"] = where + (": a ranking" if iv.above_zero else
                                              ": within the FID's own noise, a tie" if sampling else ": not separable")
    return values


def study_verdict(table: pd.DataFrame, name: str, sampling_sd: float = float("nan")) -> dict[str, Any]:
    """The verdict of study ``name`` from its table (:func:`ddpm_mnist.studies.runner.tabulate`):
    ``verdict`` (confirmed / contradicted / not separable at this budget), ``why`` (the evidence),
    and ``comparisons`` (:func:`~ddpm_mnist.book.verdicts.compare_with_choice`, paired intervals
    with the FID's sampling spread ``sampling_sd``, NaN: none measured)."""
    st = get_study(name)
    sd = 0.0 if np.isnan(sampling_sd) else sampling_sd
    comparisons = compare_with_choice(table, st.label(st.report_choice), sampling_sd=sd)
    word, why = verdict(comparisons)
    return {"verdict": word, "why": why, "comparisons": comparisons}


def finding(found: dict[str, Any], table: pd.DataFrame, name: str) -> str:
    """A study's finding in two lines, for the admonition that opens its chapter: the verdict with
    the report's choice and its FID here, then the value closest to beating it (the lowest paired
    FID difference) with that difference, its interval and the seeds it rests on. ``found``:
    :func:`study_verdict`'s answer for ``table``."""
    st = get_study(name)
    choice = st.label(st.report_choice)
    row = table[table["value"] == choice]
    fid = "no result yet" if row.empty or np.isnan(row["fid_mean"].iloc[0]) else \
        f"FID {row['fid_mean'].iloc[0]:.2f} over {int(row['n_seeds'].iloc[0])} seeds"
    first = f"**{found['verdict'][0].upper()}{found['verdict'][1:]}.** The report's choice, {named_value(st, choice)}, scores {fid} here."
    compared = found["comparisons"]
    compared = compared[[c.n > 0 for c in compared["fid"]]] if len(compared) else compared
    if not len(compared):
        return first + " No other value shares a seed with it yet."
    best = compared.loc[compared["fid"].map(lambda c: c.mean).idxmin()]
    c = best["fid"]
    spread = "no interval yet (one common seed)" if np.isnan(c.low) else f"interval {c.low:+.2f} to {c.high:+.2f}"
    return (first + f"  \nClosest rival: {named_value(st, best['value'])}, {c.mean:+.2f} FID against the choice "
            f"({spread}; {c.n} common seed{'s' if c.n > 1 else ''}; negative is better).")


def comparison_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """:func:`~ddpm_mnist.book.verdicts.compare_with_choice` as the book shows it: per value, the
    seeds in common with the report's choice and each paired difference with its interval."""
    return pd.DataFrame({
        "value": comparisons["value"],
        "common seeds": [len(s) for s in comparisons["seeds"]],
        "FID difference [interval]": [c.text() for c in comparisons["fid"]],
        "precision difference": [c.text(3) for c in comparisons["precision"]],
        "recall difference": [c.text(3) for c in comparisons["recall"]],
    })
