r"""Verdicts: is the report's choice confirmed, contradicted, or not separable at this budget?

A study compares each of its values with the report's choice on the seeds both have (a seed
fixes the initial weights and the data order, so a paired difference cancels what the two runs
share). For each value:

* :func:`paired_interval`: the mean paired difference and its percentile bootstrap interval.
  With three seeds or fewer a value's own differences cannot say how far a seed moves them
  (resampling three numbers gives their range, and one number no range at all), so the
  bootstrap resamples *residuals*: each seed's deviation from its value's mean difference,
  pooled over the study's values that have two or more common seeds (:func:`seed_residuals`;
  this assumes that seeds move every value of a study alike). Each replicate also draws the
  FID's sampling noise (one network scored with other sampling seeds, ``book/evaluation.md``).
  A study whose values have one seed each borrows the report's choice's own seeds instead:
  their deviations, times :math:`\sqrt 2` for a difference of two independent runs. Without
  either there is no estimate of seed noise, and no interval.
* Picking the best of ``m`` values is corrected by Bonferroni: each interval has level
  ``1 - alpha / m`` (:func:`compare_with_choice`).

:func:`verdict` then gives one of three words, or a fourth while the study is incomplete:

``contradicted``
    some value is better than the report's choice beyond its interval on FID, and not worse
    beyond its interval on precision or recall (which a low FID of blobs or of a collapse fails);
``confirmed``
    not contradicted, and the choice is better than some value beyond the interval: the study
    separates its values, and the choice is the best or not separable from the best;
``not separable at this budget``
    no interval excludes zero;
``not measured yet``
    no value shares a seed with the report's choice, so nothing is compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

CONFIRMED, CONTRADICTED, NOT_SEPARABLE = "confirmed", "contradicted", "not separable at this budget"
NOT_MEASURED = "not measured yet"
"""The verdict of a study none of whose values shares a seed with the report's choice yet."""
ALPHA = 0.05
N_BOOTSTRAP = 20_000


@dataclass(frozen=True)
class Interval:
    """A mean paired difference over ``n`` common seeds and its interval [``low``, ``high``]."""

    n: int
    mean: float
    low: float
    high: float

    @property
    def below_zero(self) -> bool:
        return bool(self.high < 0)  # False when there is no interval (NaN)

    @property
    def above_zero(self) -> bool:
        return bool(self.low > 0)

    def negated(self) -> "Interval":
        """The same comparison the other way round (``b - a`` for ``a - b``): what a sentence that
        says "better by" or "below by" gives, so that its interval has the sign of its words."""
        return Interval(self.n, -self.mean, -self.high, -self.low)

    def text(self, digits: int = 2) -> str:
        """``-12.30 [-20.10, -4.50]``, "-12.30 [no seed noise measured]", or "—" without common seeds."""
        if self.n == 0:
            return "—"
        if np.isnan(self.low):
            return f"{self.mean:+.{digits}f} [no seed noise measured]"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


NO_INTERVAL = Interval(0, float("nan"), float("nan"), float("nan"))


def differences(a: Mapping[int, float], b: Mapping[int, float]) -> np.ndarray:
    """``a[s] - b[s]`` over the seeds ``s`` both have with finite values, in seed order."""
    common = sorted(s for s in set(a) & set(b) if np.isfinite(a[s]) and np.isfinite(b[s]))
    return np.array([a[s] - b[s] for s in common], dtype=np.float64)


def seed_residuals(groups: list[np.ndarray]) -> np.ndarray:
    """The pooled seed residuals of several values' paired differences: for each group of
    ``n >= 2`` differences, their deviations from the group's mean scaled by ``sqrt(n / (n - 1))``
    (so that their spread estimates one seed's without the bias of a mean fitted to them)."""
    out = [(d - d.mean()) * np.sqrt(len(d) / (len(d) - 1)) for d in groups if len(d) >= 2]
    return np.concatenate(out) if out else np.zeros(0)


def paired_interval(a: Mapping[int, float], b: Mapping[int, float], level: float = 1 - ALPHA, sampling_sd: float = 0.0,
                    residuals: np.ndarray | None = None, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> Interval:
    """Mean of ``a[s] - b[s]`` over the ``n`` seeds ``s`` both have (:func:`differences`), with a
    two-sided percentile bootstrap interval at ``level``. Each replicate is the mean plus the mean
    of ``n`` draws from ``residuals`` (:func:`seed_residuals`; None: the differences' own
    deviations, a plain bootstrap over seeds), plus a normal draw of standard deviation
    ``sampling_sd * sqrt(2 / n)`` (the sampling noise of a difference of two FIDs, averaged over
    ``n`` seeds). :data:`NO_INTERVAL` without a common seed, or without residuals to draw from."""
    d = differences(a, b)
    n = len(d)
    pool = seed_residuals([d]) if residuals is None else np.asarray(residuals, dtype=np.float64)
    if n == 0 or (len(pool) == 0 and n < 2):
        return NO_INTERVAL if n == 0 else Interval(n, float(d.mean()), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = d.mean() + (pool[rng.integers(0, len(pool), size=(n_boot, n))].mean(1) if len(pool) else 0.0)
    if sampling_sd > 0:
        means = means + rng.normal(0.0, sampling_sd * np.sqrt(2 / n), size=n_boot)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(n, float(d.mean()), float(low), float(high))


def study_residuals(others: pd.DataFrame, base: pd.Series, column: str) -> np.ndarray:
    """The seed residuals of a study's paired differences in ``column`` (``fids``, ``precisions``...):
    pooled over its values (:func:`seed_residuals`), else those of the choice's own seeds times
    sqrt(2) (a difference of two independent runs), else none."""
    pool = seed_residuals([differences(by_seed(r, column), by_seed(base, column)) for _, r in others.iterrows()])
    if len(pool):
        return pool
    own = np.array([v for v in by_seed(base, column).values() if np.isfinite(v)])
    return seed_residuals([own]) * np.sqrt(2)


def by_seed(row: pd.Series, column: str = "fids") -> dict[int, float]:
    """A study row's (``tabulate``) ``column`` by seed: ``{seed: value}``, empty without the column."""
    values = row.get(column)
    if not isinstance(values, (list, tuple)):
        return {}
    return {int(s): float(v) for s, v in zip(row["seeds"], values)}


def compare_with_choice(table: pd.DataFrame, choice: str, sampling_sd: float = 0.0, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per value of a study table (:func:`ddpm_mnist.studies.runner.tabulate`) other than
    the report's ``choice`` (a value label) and the values sharing its run: ``value``, ``seeds``
    (common with the choice), ``fid`` (:class:`Interval` of value minus choice: negative is better),
    ``precision`` and ``recall`` (intervals of value minus choice: negative is worse; no sampling
    term), each at level ``1 - alpha / m`` for the ``m`` values compared (Bonferroni); column
    ``level`` holds it. The seed residuals are pooled over the table's values (:func:`seed_residuals`)."""
    base = table[table["value"] == choice]
    if not len(base):
        raise ValueError(f"the report's choice {choice!r} is not a value of this table: {list(table['value'])}")
    base = base.iloc[0]
    key = "run" if "run" in table else "value"  # values that share a run are one comparison
    others = table[table[key] != base[key]].drop_duplicates(key)
    m = max(1, int(sum(1 for _, r in others.iterrows() if set(by_seed(r, "fids")) & set(by_seed(base, "fids")))))
    level = 1 - alpha / m
    pools = {c: study_residuals(others, base, c) for c in ("fids", "precisions", "recalls")}
    rows = []
    for _, r in others.iterrows():
        def interval(column: str, sd: float = 0.0) -> Interval:
            return paired_interval(by_seed(r, column), by_seed(base, column), level, sd, residuals=pools[column])

        rows.append({
            "value": r["value"],
            "seeds": sorted(set(by_seed(r, "fids")) & set(by_seed(base, "fids"))),
            "fid": interval("fids", sampling_sd),
            "precision": interval("precisions"),
            "recall": interval("recalls"),
            "level": level,
        })
    return pd.DataFrame(rows, columns=["value", "seeds", "fid", "precision", "recall", "level"])


def verdict(comparisons: pd.DataFrame) -> tuple[str, str]:
    """The study's verdict (:data:`CONFIRMED`, :data:`CONTRADICTED`, :data:`NOT_SEPARABLE`, or
    :data:`NOT_MEASURED` while no value can be compared with the choice) from
    :func:`compare_with_choice`, and a sentence of evidence naming the values that decide it and,
    while some value shares no seed with the choice yet, those values: the verdict is then the one
    the values measured so far give."""
    compared = comparisons[[c.n > 0 for c in comparisons["fid"]]] if len(comparisons) else comparisons
    if not len(compared):
        return NOT_MEASURED, "no value shares a seed with the report's choice yet"
    word, why = _verdict_of(compared)
    waiting = [v for v in comparisons["value"] if v not in set(compared["value"])]
    if waiting:  # the verdict stands on the values measured so far; say which are still to come
        why += f", with {listing(waiting)} not measured yet"
    return word, why


def listing(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _verdict_of(compared: pd.DataFrame) -> tuple[str, str]:
    """:func:`verdict` over comparisons that all share at least one seed with the choice."""
    better = compared[[c.below_zero for c in compared["fid"]]]
    worse_quality = [p.below_zero or r.below_zero for p, r in zip(better["precision"], better["recall"])]
    beating = better[[not w for w in worse_quality]]
    level = f"{compared['level'].iloc[0]:.1%} intervals, Bonferroni over {len(compared)} comparison{'s' if len(compared) != 1 else ''}"
    if len(beating):
        best = beating.loc[beating["fid"].map(lambda c: c.mean).idxmin()]
        gain = best["fid"].negated()
        return CONTRADICTED, (f"{best['value']} is better by {gain.mean:.2f} FID "
                              f"(interval {gain.low:+.2f} to {gain.high:+.2f}; {level})")
    beaten = compared[[c.above_zero for c in compared["fid"]]]
    caveat = ""
    if len(better):
        caveat = f", though {listing(list(better['value']))} score{'s' if len(better) == 1 else ''} a lower FID but worse precision or recall"
    if len(beaten):
        return CONFIRMED, f"better than {listing(list(beaten['value']))} beyond the interval, and no value beats it ({level}){caveat}"
    return NOT_SEPARABLE, f"no difference to the report's choice excludes zero ({level}){caveat}"

