"""The book's analysis: pure functions over stored results and study tables (no IPython).

Study tables come from :func:`ddpm_mnist.studies.runner.tabulate`; everything here returns
numbers, strings or data frames that :mod:`ddpm_mnist.book.display` shows or glues into the
prose, so the text and the tables cannot disagree, and each can be unit-tested.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import data
from ..eval import ink
from ..studies import runner
from ..studies.beyond import BEYOND, TUNED
from ..studies.config import RunConfig
from ..studies.plan import BEYOND_RUNS, RULE_SEEDS, tuned_row
from ..studies.profiles import get_profile, results_dir_for
from ..studies.registry import get_study
from ..studies.report import STUDIES
from .verdicts import (ALPHA, Interval, by_seed, compare_with_choice, differences, listing, paired_interval, seed_residuals,
                       study_residuals, verdict)

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


def provenance(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None) -> str:
    """One line saying how the numbers of a study were obtained."""
    prof = get_profile(profile)
    results = [r for rs in runner.study_results(name, profile, seeds, results_dir).values() for r in rs]
    if not results:
        return f"profile {profile}: no results yet"
    devices = sorted({x["device_name"] for x in results})
    versions = sorted({x["code_version"] for x in results})
    scoring = sorted({(x["metrics"]["features"], x["metrics"]["n_samples"], x["config"].get("dataset", "mnist"), x["metrics"]["reference"])
                      for x in results})
    fids = "; ".join(f"`{f}` features on {n:,} samples against the {'MNIST' if d == 'mnist' else 'Fashion-MNIST'} {ref} set"
                     for f, n, d, ref in scoring)
    found = sorted({x["seed"] for x in results})
    paths: dict[str, int] = {}
    for x in results:
        paths[numerical_path(x)] = paths.get(numerical_path(x), 0) + 1
    path_text = "; ".join(f"{p}: {n} run{'s' if n > 1 else ''}" for p, n in sorted(paths.items(), key=lambda kv: -kv[1]))
    protocols = "; ".join(sorted({protocol_text(x["config"], sampler=False) for x in results}))
    variances = sorted({variance_text(x["config"]) for x in results if sampler_of(x["config"]) == "ancestral"})
    if variances:
        every = all(sampler_of(x["config"]) == "ancestral" for x in results)
        protocols += (", " if every else "; the ancestral rows sample with ") + " / ".join(variances)
    return (f"Profile `{prof.name}` ({prof.description}); seeds {', '.join(map(str, found))} (the seeds column counts those of each row); "
            f"protocol {protocols}; trained on {', '.join(devices)} (numerical path {path_text}); FID in {fids}; "
            f"code {', '.join(versions)}.")


def _with_defaults(config: dict) -> dict:
    """A stored config with the fields absent from older results at their defaults."""
    return {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING} | config


def sampler_of(config: dict) -> str:
    """The sampler a stored config used ("ancestral", "ddim")."""
    return _with_defaults(config)["sampler"]


def variance_text(config: dict) -> str:
    """The ancestral sampler's variance in words: "σ² = β_t", "σ² = β̃_t", "σ² = β_(t-1) (the report's)"."""
    return {"report": "σ² = β_(t-1) (the report's)", "beta": "σ² = β_t", "beta-tilde": "σ² = β̃_t"}[_with_defaults(config)["variance"]]


def protocol_text(config: dict, sampler: bool = True) -> str:
    """A stored config's optimisation protocol in words, e.g. "AdamW, lr 1e-3 constant, gradients
    clipped at norm 1, EMA 0.999 (warm-up), σ² = β_t" (the ancestral sampler's variance last,
    unless ``sampler`` is false); fields absent from older results take their defaults."""
    c = _with_defaults(config)
    parts = ["schedule-free AdamW" if c["optimizer"] == "schedulefree" else "AdamW"]
    schedule = "" if c["optimizer"] == "schedulefree" else f" {c['lr_schedule']}"
    parts.append(f"lr {c['lr']:g}{schedule}" + (f" after {c['warmup_steps']} warm-up steps" if c["warmup_steps"] else ""))
    parts.append(f"gradients clipped at norm {c['grad_clip']:g}" if c["grad_clip"] else "no gradient clipping")
    if c["ema_decay"] and c.get("use_ema", True):
        parts.append(f"EMA {c['ema_decay']:g}" + (" (warm-up)" if c["ema_warmup"] else ""))
    if sampler and c["sampler"] == "ancestral":
        parts.append(variance_text(c))
    return ", ".join(parts)


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
    """One sentence setting the baseline's spread over its seeds (:data:`RULE_SEEDS`; span =
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


CENTRE_BLOB = 0.4
"""Share of a sample's ink in the central quarter of the frame above which :func:`speckle_look`
calls the ink gathered around a blob (evenly spread ink puts 0.25 there, a test digit about 0.7)."""


def sample_ink(result: dict) -> tuple[float, float]:
    """Median ink (pixels' worth) and median share of it in the central 14 × 14 pixels of a stored
    run's saved samples (the grid's), :mod:`ddpm_mnist.eval.ink`."""
    samples = torch.from_numpy(np.asarray(result["samples"]))
    return ink.ink(samples).median().item(), ink.centre_share(samples).nanmedian().item()


@functools.cache
def reference_ink() -> tuple[float, float]:
    """:func:`sample_ink`'s two medians for the MNIST test digits."""
    digits = data.load_mnist_uint8(train=False)[0]
    return ink.ink(digits).median().item(), ink.centre_share(digits).nanmedian().item()


def ink_text(result: dict) -> str:
    """"a median of 46 pixels' worth of ink, against 101 for an MNIST test digit"."""
    return f"a median of {sample_ink(result)[0]:.0f} pixels' worth of ink, against {reference_ink()[0]:.0f} for an MNIST test digit"


def speckle_look(result: dict) -> str:
    """What the grid of a model that draws no strokes shows, from where the ink of its samples
    lies: "speckle spread over the whole frame (...)" or "speckle gathered around a blob at the
    centre (...)", with the two medians of :func:`sample_ink` against the test digits'."""
    amount, centre = sample_ink(result)
    test_amount, test_centre = reference_ink()
    where = "gathered around a blob at the centre" if centre >= CENTRE_BLOB else "spread over the whole frame"
    return (f"speckle {where} (a median of {amount:.0f} pixels' worth of ink, {centre:.0%} of it in the central quarter of "
            f"the frame; an MNIST test digit has {test_amount:.0f}, {test_centre:.0%} of it there)")


COST_WORDS = {"steps": ("optimiser steps", "step counts", "more steps"),
              "parameters": ("parameters", "parameter counts", "more parameters")}
"""How :func:`cost_order_text` names each cost column of a study table: the column, its counts,
and a move towards more of it."""


def _cost_moves(table: pd.DataFrame, cost: str) -> tuple[pd.DataFrame, list, list]:
    """The values of a study table with an FID and a ``cost``, in order of cost; the moves between
    neighbours towards more cost (values of equal cost make no move); and the moves where the FID
    does not fall."""
    done = table[table["fid_mean"].notna() & table[cost].notna()].sort_values(cost)
    rows = list(done.itertuples())
    moves = [(a, b) for a, b in zip(rows, rows[1:]) if getattr(b, cost) > getattr(a, cost)]
    return done, moves, [(a, b) for a, b in moves if b.fid_mean >= a.fid_mean]


def cost_order(table: pd.DataFrame, cost: str = "steps") -> str:
    """How a study's mean FIDs follow its values' ``cost`` (:data:`COST_WORDS`): "unmeasured"
    (fewer than two values stored), "flat" (every value has the same cost, e.g. every batch size
    takes one step at the smoke profile), "follows" (the FID falls at every move towards more
    cost) or "breaks"."""
    done, moves, against = _cost_moves(table, cost)
    return "unmeasured" if len(done) < 2 else "flat" if not moves else "breaks" if against else "follows"


def cost_order_text(table: pd.DataFrame, cost: str = "steps") -> str:
    """:func:`cost_order` as one sentence (``steps``, the optimiser steps of the batch-size study
    at a fixed number of epochs; ``parameters``, the widths of the channels study), naming the
    neighbouring values, in order of cost, where the FID does not fall (e.g. "1024 → 512")."""
    column, counts, more = COST_WORDS[cost]
    done, moves, against = _cost_moves(table, cost)
    order = cost_order(table, cost)
    if order == "unmeasured":
        return f"The {counts} and the FID can be set side by side once two values are stored."
    if order == "flat":
        return (f"The {len(done)} values stored share one count of {column} here ({int(done[cost].iloc[0]):,}): "
                "the FID cannot follow it.")
    if order == "follows":
        return (f"Over the {len(done)} values stored, the mean FID falls at every step up in {column}: the order "
                f"of the FIDs is the order of the {counts}.")
    return (f"The mean FID does not fall as the {column} rise at {len(against)} of the {len(moves)} moves between "
            f"neighbouring values ({', '.join(f'{a.value} → {b.value}' for a, b in against)}, each towards {more}); "
            "the paired differences above say whether those orders are beyond the noise.")


def digit_share(result: dict, digit: int) -> float:
    """Fraction (0-1) of a stored run's scored samples that the MNIST classifier reads as ``digit``."""
    hist = result["metrics"]["digits"]["histogram"]
    return hist[digit] / sum(hist)


@functools.cache
def reference_digit_share(digit: int) -> float:
    """Fraction (0-1) of the MNIST test set labelled ``digit`` (its classes are not exactly
    balanced: 8.9% are 5s, 11.4% are 1s)."""
    labels = data.load_mnist_uint8(train=False)[1]
    return (labels == digit).float().mean().item()


def shares_differ(p: float, q: float, n_p: int, n_q: int, z: float = 1.96) -> bool:
    """Whether two shares counted on ``n_p`` and ``n_q`` independent samples differ by more than
    ``z`` standard errors of their difference, ``sqrt(p(1-p)/n_p + q(1-q)/n_q)`` (the normal
    approximation to two binomial counts; z = 1.96: a two-sided 95% test)."""
    return abs(p - q) > z * float(np.sqrt(p * (1 - p) / n_p + q * (1 - q) / n_q))


def crowded_digits(histogram: Sequence[int], factor: float = 2.0) -> list[tuple[int, float, float]]:
    """The digits a run's samples crowd onto: (digit, its share of the ``histogram`` of classifier
    readings, the MNIST test set's share), most frequent first, for every digit read at least
    ``factor`` times as often as the test set has it and beyond the counting error of both
    (:func:`shares_differ`, against the 10,000 test digits)."""
    n = int(sum(histogram))
    shares = [(d, c / n, reference_digit_share(d)) for d, c in enumerate(histogram)] if n else []
    return sorted([(d, p, q) for d, p, q in shares if p >= factor * q and shares_differ(p, q, n, 10_000)], key=lambda x: -x[1])


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
    :data:`RULE_SEEDS`): the report's choice, our best value and its FID, the study's verdict
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


def best_configuration(profile: str, results_dir: str | Path | None = None) -> dict[str, str]:
    """The lowest FID among the report's U-Net studies (each a one-parameter change of the
    baseline; not the epochs study, which changes the budget) at ``profile``, against the
    baseline: ``best`` (study and value), ``best_fid`` (mean ± std, seeds), ``baseline_fid``,
    ``gap`` (baseline minus best), ``paired`` (the gap on the seeds both have, when their seeds
    differ; else ""), ``interval`` (that gap's paired interval, Bonferroni over every cell
    measured), ``spread`` (the baseline's seed std), ``verdict`` (whether the interval excludes
    zero, in words) and ``cost`` (what the best spends beside the baseline, :func:`cost_text`).
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


def cost_text(base: pd.Series, row: pd.Series) -> str:
    """What study row ``row`` spends beside the baseline's row ``base`` (rows of
    :func:`~ddpm_mnist.studies.runner.tabulate`), as a sentence: its optimiser steps and its
    parameters where they differ from the baseline's; "" where neither does. More steps in the
    same epochs is more training, the reason the number of epochs is set aside; the sentence says
    so where the row takes more. (Wall time is not compared: the runs were timed on whichever
    machine and load they met.)"""
    said = {"steps": ("takes {:,} optimiser steps where the baseline takes {:,}"),
            "parameters": ("has {:,} parameters where the baseline has {:,}")}
    pairs = {k: (float(row.get(k, np.nan)), float(base.get(k, np.nan))) for k in said}
    spent = [said[k].format(int(mine), int(theirs)) for k, (mine, theirs) in pairs.items()
             if not (np.isnan(mine) or np.isnan(theirs)) and mine != theirs]
    if not spent:
        return ""
    more = pairs["steps"][0] > pairs["steps"][1]
    return (f" It is not the baseline's budget: it {listing(spent)}"
            + (", and more optimiser steps in the same epochs are more training, as more epochs are." if more else "."))


def _best_against_baseline(cells: list[tuple[str, pd.Series, bool]], base: pd.Series, sampling_sd: float = float("nan")) -> dict[str, str]:
    """The keys of :func:`best_configuration` for the lowest-FID cell of ``cells`` (label, study
    row, whether it is the baseline's own run) against the baseline's row ``base``: the paired gap
    on common seeds with its interval (:func:`against_baseline`, Bonferroni over the cells measured),
    and ``cost`` (:func:`cost_text`)."""
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


PROTOCOL_FLOOR_SD = 6.0
"""The largest seed standard deviation of the baseline's FID (``mnist-cnn``, 1,000 samples, five
seeds or more) that makes the studies' differences of ten or more FID separable (``book/protocol.md``)."""


def protocol_table(profile: str, results_dir: str | Path | None = None) -> pd.DataFrame:
    """The protocol study (:mod:`ddpm_mnist.studies.protocol`) from stored results: per candidate,
    the seeds stored, the mean and seed standard deviation of FID, precision, recall and class
    KL, and the protocol in words (optimiser, lr and schedule, EMA, sampler variance)."""
    from ..studies.protocol import CANDIDATES, PROTOCOL, PROTOCOL_SEEDS

    prof = get_profile(profile)
    table = runner.tabulate(PROTOCOL, prof, PROTOCOL_SEEDS, results_dir_for(profile, results_dir))
    rows = []
    for _, r in table.iterrows():
        c = CANDIDATES[r["value"]]
        row = {"candidate": r["value"], "seeds": int(r["n_seeds"]),
               "optimiser": ("schedule-free AdamW" if c.optimizer == "schedulefree" else "AdamW") + f", lr {c.lr:g}",
               "lr schedule": c.lr_schedule + (f" after {c.warmup_steps} warm-up steps" if c.warmup_steps else ""),
               "weights sampled": (f"EMA {c.ema_decay:g} (warm-up)" if c.ema_decay and c.use_ema else
                                   "averaged iterate (schedule-free)" if c.optimizer == "schedulefree" else "trained"),
               "sampler variance": c.variance}
        for name, column in (("FID", "fids"), ("precision", "precisions"), ("recall", "recalls"), ("class KL", "class_kls")):
            values = np.asarray(r[column], dtype=np.float64)
            ok = values[np.isfinite(values)]
            row[f"{name} mean"] = float(ok.mean()) if len(ok) else np.nan
            row[f"{name} SD"] = float(ok.std(ddof=1)) if len(ok) > 1 else np.nan
        row["fids"] = list(r["fids"])
        row["fid seeds"] = list(r["seeds"])
        rows.append(row)
    return pd.DataFrame(rows)


def protocol_choice(table: pd.DataFrame, min_seeds: int = 5) -> dict[str, str]:
    """The protocol kept from :func:`protocol_table`: among the candidates with at least
    ``min_seeds`` seeds whose seed SD of FID meets :data:`PROTOCOL_FLOOR_SD`, the one with the
    lowest mean FID (the best-trained networks at this budget); when none meets the floor, the one
    with the smallest SD.

    Returns ``choice``, ``fid`` (mean ± SD), ``sd``, ``floor`` (whether its SD meets the floor),
    ``complete`` ("k of n candidates have their seeds"), ``eligible`` (how many meet the floor),
    ``tightest`` (the candidate with the smallest SD) and ``tightest_fid``, ``runner_up`` (the
    eligible candidate with the next-lowest mean) with ``runner_up_fid`` and ``runner_up_paired``
    (the choice's FID minus the runner-up's on their common seeds, in words). "—" while none has
    enough seeds."""
    full = table[table["seeds"] >= min_seeds]
    out = {"complete": f"{len(full)} of {len(table)}", "choice": "—", "fid": "—", "sd": "—", "floor": "—",
           "eligible": "0", "tightest": "—", "tightest_fid": "—", "runner_up": "—", "runner_up_fid": "—",
           "runner_up_paired": "—"}
    if not len(full):
        return out
    fid = lambda r: f"{r['FID mean']:.2f} ± {r['FID SD']:.2f}"  # noqa: E731
    tightest = full.loc[full["FID SD"].idxmin()]
    eligible = full[full["FID SD"] <= PROTOCOL_FLOOR_SD]
    best = eligible.loc[eligible["FID mean"].idxmin()] if len(eligible) else tightest
    out.update(choice=best["candidate"], fid=fid(best), sd=f"{best['FID SD']:.2f}", eligible=str(len(eligible)),
               floor=("meets" if best["FID SD"] <= PROTOCOL_FLOOR_SD else "misses") + f" the floor of {PROTOCOL_FLOOR_SD:g}",
               tightest=tightest["candidate"], tightest_fid=fid(tightest))
    others = eligible[eligible["candidate"] != best["candidate"]]
    if len(others):
        second = others.loc[others["FID mean"].idxmin()]
        out.update(runner_up=second["candidate"], runner_up_fid=fid(second))
        if "fid seeds" in table:
            gaps = differences(dict(zip(best["fid seeds"], best["fids"])), dict(zip(second["fid seeds"], second["fids"])))
            if len(gaps):
                spread = f" (SD of the gaps {np.std(gaps, ddof=1):.2f})" if len(gaps) > 1 else ""
                out["runner_up_paired"] = (f"{np.mean(gaps):+.2f} on average over their {len(gaps)} common seeds{spread}, lower on "
                                           f"{sum(g < 0 for g in gaps)} of them")
    return out


QUALITY = ("precision", "recall", "class_kl")


def comparable_quality(results: Sequence[dict]) -> tuple[list[dict[str, float]], bool, int]:
    """Precision, recall and class KL of each stored result, measured the same way for all: the
    metrics the results store (on all their scored samples) when every one has them; otherwise
    :func:`ddpm_mnist.eval.metrics.quality_row` of the samples stored with each (100 at the
    ``cpu`` profile), so that results that predate the stored metrics compare too. Returns the
    dicts (``QUALITY`` keys), whether the stored metrics were used and the samples per result."""
    from ..eval import metrics

    if not results:
        return [], True, 0
    stored = all(all(k in r["metrics"] for k in QUALITY) for r in results)
    if stored:
        return [{k: r["metrics"][k] for k in QUALITY} for r in results], True, results[0]["metrics"]["n_samples"]
    measured = [metrics.quality_row(torch.as_tensor(np.asarray(r["samples"]))[:, None]) for r in results]
    return [{k: q[k] for k in QUALITY} for q in measured], False, len(results[0]["samples"])


PRECISION_MARGIN = 0.1
"""How much lower a precision must be than another's before the book says fewer samples are digits
(:func:`fid_blind_spots`, :func:`blind_spot_text`, ``book/noising-steps.md``)."""

BLIND_SPOT_MARGIN = 1.5
""":func:`fid_blind_spots` looks among the runs whose FID is at most this many times the baseline's."""


def fid_blind_spots(profile: str, results_dir: str | Path | None = None, margin: float = BLIND_SPOT_MARGIN) -> pd.DataFrame:
    """Where an FID close to the baseline's hides worse samples, among the stored runs of the
    report's U-Net studies (every stored seed of :data:`RULE_SEEDS`, each run once) that score an
    FID of at most ``margin`` times the baseline's (seed 0). Three rows: the baseline itself;
    ``off the digits``, the lowest precision among the runs that do not buy it back in recall
    (recall no higher than the baseline's: a run that trades precision for variety is not one
    the FID misjudges); ``crowded``, the highest class KL among the runs whose samples are
    digits (precision at least the baseline's less :data:`PRECISION_MARGIN`). The metrics are
    :func:`comparable_quality`'s. Columns: ``case``, ``run``, ``stored FID``, ``precision``, ``recall``, ``class_kl``; a
    case with no candidate is left out; the attributes ``candidates`` (how many runs were
    searched), ``stored`` (whether the stored metrics were used) and ``samples`` (how many
    samples per run the metrics saw). Empty without a baseline."""
    columns = ["case", "run", "stored FID", "precision", "recall", "class_kl"]
    base = runner.study_results("models", profile, [0], results_dir, ["unet"]).get("unet")
    if not base:
        return pd.DataFrame(columns=columns)
    ceiling = margin * base[0]["metrics"]["fid"]
    runs: dict[str, tuple[str, dict]] = {}
    for name, st in STUDIES.items():
        if name == "models":
            continue
        for value, results in runner.study_results(name, profile, RULE_SEEDS, results_dir).items():
            for r in results:
                if r["metrics"]["fid"] <= ceiling and r["hash"] not in runs and r["hash"] != base[0]["hash"]:
                    runs[r["hash"]] = (f"{named_value(st, value)}, seed {r['seed']}", r)

    qualities, stored, n = comparable_quality([base[0], *(r for _, r in runs.values())])
    scored = [{"run": label, "stored FID": r["metrics"]["fid"], **q}
              for (label, r), q in zip([("the baseline (T = 15), seed 0", base[0]), *runs.values()], qualities)]
    mine, others = scored[0], scored[1:]
    rows = [{"case": "the baseline", **mine}]
    off = [o for o in others if o["recall"] <= mine["recall"]]
    if off:
        rows.append({"case": "off the digits", **min(off, key=lambda o: o["precision"])})
    digits = [o for o in others if o["precision"] >= mine["precision"] - PRECISION_MARGIN]
    if digits:
        rows.append({"case": "crowded", **max(digits, key=lambda o: o["class_kl"])})
    table = pd.DataFrame(rows, columns=columns)
    table.attrs["candidates"] = len(others)
    table.attrs["stored"] = stored
    table.attrs["samples"] = n
    return table


def blind_spot_text(table: pd.DataFrame, margin: float = BLIND_SPOT_MARGIN) -> str:
    """What :func:`fid_blind_spots` found: whether the ``off the digits`` run falls clearly below
    the baseline's precision (by more than :data:`PRECISION_MARGIN`), and whether the ``crowded`` run is crowded onto a
    few digits (class KL above 1, about what three equally used digits give: log(10/3) = 1.2)."""
    if not len(table):
        return "The baseline has no stored result at this profile yet."
    cases = table.set_index("case")
    base = cases.loc["the baseline"]
    n = table.attrs.get("candidates", 0)
    if not n:
        return "No stored run of the report's studies scores close enough to the baseline to compare yet."
    within = f"Of the {n} stored runs that score at most {margin:g} times the baseline's FID"
    off = cases.loc["off the digits"] if "off the digits" in cases.index else None
    if off is not None and base["precision"] - off["precision"] > PRECISION_MARGIN:
        first = (f"{within}, {off['run']} falls furthest off the digits without buying it back in variety: FID "
                 f"{off['stored FID']:.2f} against the baseline's {base['stored FID']:.2f}, but precision {off['precision']:.2f} "
                 f"against {base['precision']:.2f} and recall {off['recall']:.2f} against {base['recall']:.2f}.")
    else:
        lowest = f" (the lowest of those with no better recall: {off['precision']:.2f}, {off['run']})" if off is not None else ""
        first = f"{within}, none falls far below the baseline's precision of {base['precision']:.2f}{lowest}."
    crowded = cases.loc["crowded"] if "crowded" in cases.index else None
    if crowded is not None and crowded["class_kl"] > 1.0:
        second = (f"Among those whose samples are digits, {crowded['run']} crowds them onto a few: precision "
                  f"{crowded['precision']:.2f} and recall {crowded['recall']:.2f}, with a class KL of {crowded['class_kl']:.2f}.")
    elif crowded is not None:
        second = (f"None of those whose samples are digits crowds onto a few: the highest class KL is "
                  f"{crowded['class_kl']:.2f} ({crowded['run']}), against 2.30 for a single digit.")
    else:
        second = "No other run keeps the baseline's precision."
    return f"{first} {second}"


def numerical_path(result: dict) -> str:
    """How a stored result's network was trained, in words: its precision (the steps' dtypes, or
    "precision not recorded") and whether ``torch.compile`` ran, e.g. "float32, eager", then the
    sampling precision where it is not float32 (", sampled in bfloat16")."""
    steps = result["train"].get("precision_steps") or {"unrecorded": 1}
    names = {"unrecorded": "precision not recorded", "bfloat16": "bfloat16 autocast"}
    precision = " + ".join(sorted(names.get(k, k) for k in steps))
    compiled = (result["train"].get("numerics") or {}).get("compile")
    sampled = (result.get("metrics", {}).get("sampling_path") or {}).get("precision", "float32")
    return (f"{precision}, {'compiled' if compiled else 'eager' if compiled is not None else 'compile not recorded'}"
            + ("" if sampled == "float32" else f", sampled in {sampled}"))


def provenance_problems(results: Sequence[dict]) -> list[str]:
    """What keeps a set of stored results (one study's) from being published: a result computed
    from uncommitted code (``.dirty`` in its code version) or not recording its numerical path,
    or the set mixing numerical paths (:func:`numerical_path`). Empty when clean."""
    problems = [f"{r['hash']} (seed {r['seed']}) was computed from uncommitted code ({r['code_version']})"
                for r in results if r["code_version"].endswith(".dirty")]
    problems += [f"{r['hash']} (seed {r['seed']}) does not record its numerical path ({numerical_path(r)})"
                 for r in results if "not recorded" in numerical_path(r)]
    paths = sorted({numerical_path(r) for r in results})
    if len(paths) > 1:
        problems.append(f"the study mixes numerical paths: {'; '.join(paths)}")
    return problems
