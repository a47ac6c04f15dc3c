"""The protocol study (``book/protocol.md``) from stored results: each candidate training protocol's
FID, precision, recall and class KL over its seeds, and the protocol kept for the re-run (the
best-trained networks among those whose seed spread lets the studies separate their values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..studies import runner
from ..studies.profiles import get_profile, results_dir_for
from .verdicts import differences


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
