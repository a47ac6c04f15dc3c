"""Readings of one training run scored at several lengths (the epochs chapter): its snapshots,
where the FID rises from one to the next, and what the samples crowd onto.

Pure functions of stored results (dicts as :func:`ddpm_mnist.studies.runner.study_results`
returns them); the sentences they write follow the numbers, whichever protocol trained the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

THINNING = 0.05
"""How much the most frequent reading's share must fall over the run (0-1) for the crowd to be said to thin."""

SNAPSHOT_COLUMNS = ["report's epochs", "epochs", "steps", "FID", "most frequent digit", "its share", "digits covered",
                    "class KL", "recall"]


def _metric(result: dict, name: str) -> float:
    """A stored metric, NaN where the result predates it."""
    value = result["metrics"].get(name)
    return np.nan if value is None else float(value)


def snapshots(results: Mapping[str, Sequence[dict]]) -> pd.DataFrame:
    """One row per distinct length of one seed's run, shortest first, from ``results`` (report's
    epochs label -> results, the first one used). Labels whose runs took the same number of
    steps (the profile's cap, or lengths that round to one step) are one network and share a
    row, "200 = 1000". Columns :data:`SNAPSHOT_COLUMNS`:
    ``its share`` of the samples the classifier reads as ``most frequent digit`` (0-1), ``class
    KL`` from the even mix of digits and ``recall`` (NaN where a result predates them)."""
    rows: dict[int, dict] = {}
    for label, runs in results.items():
        if not runs:
            continue
        r = runs[0]
        if r["train"]["steps"] in rows:  # one network: the same result, or lengths that round to the same steps
            rows[r["train"]["steps"]]["report's epochs"] += f" = {label}"
            continue
        hist = np.asarray(r["metrics"]["digits"]["histogram"], dtype=float)
        rows[r["train"]["steps"]] = {
            "report's epochs": str(label), "epochs": float(r["train"]["epochs"]), "steps": int(r["train"]["steps"]),
            "FID": float(r["metrics"]["fid"]), "most frequent digit": int(hist.argmax()), "its share": float(hist.max() / hist.sum()),
            "digits covered": int(r["metrics"]["digits"]["classes_covered"]),
            "class KL": _metric(r, "class_kl"), "recall": _metric(r, "recall"),
        }
    table = pd.DataFrame(list(rows.values()), columns=SNAPSHOT_COLUMNS)
    return table.sort_values("steps", kind="stable").reset_index(drop=True)


def rises(fids: pd.Series) -> list[tuple]:
    """The index labels (a, b) of each pair of neighbouring entries of ``fids`` (shortest first)
    where the later one is higher; NaNs are skipped."""
    known = fids.dropna()
    index = list(known.index)
    return [(a, b) for a, b in zip(index, index[1:]) if known[b] > known[a]]


def _rising_stretches(fids: pd.Series) -> str:
    """The stretches over which ``fids`` (by epochs label, shortest first) rises, as "12.6 at 50
    epochs, 13.3 at 100, 15.1 at 200"; "" where it never does."""
    stretches: list[list] = []
    for a, b in rises(fids):
        if stretches and stretches[-1][-1] == a:
            stretches[-1].append(b)
        else:
            stretches.append([a, b])
    return "; ".join(", ".join(f"{fids[x]:g} at {x}{' epochs' if i == 0 else ''}" for i, x in enumerate(s)) for s in stretches)


def _n_epochs(epochs: float) -> str:
    return f"{epochs:g} epoch{'' if epochs == 1 else 's'}"


def _epochs(row: pd.Series) -> str:
    report = row["report's epochs"]
    return f"{_n_epochs(row['epochs'])} (the report's {report})"


def course_text(snaps: pd.DataFrame, averaged: bool, spread: float, report: pd.Series | None = None) -> str:
    """MyST: how seed 0's FID moves along its run (``snaps`` from :func:`snapshots`): from the
    first length to the last, and each rise between neighbouring lengths with the largest set
    against ``spread`` (the baseline's SD of FID over seeds; NaN: unknown). ``averaged``: the
    run samples schedule-free AdamW's averaged iterate rather than the last weights.
    ``report``: the report's FID by its epochs label, shortest first, whose own rises are quoted."""
    if len(snaps) < 2:
        return "Seed 0's run has fewer than two lengths scored so far."
    first, last = snaps.iloc[0], snaps.iloc[-1]
    text = f"FID falls with training: seed 0's run goes from {first['FID']:.2f} after {_epochs(first)} to {last['FID']:.2f} after {_epochs(last)}"
    up = rises(snaps["FID"])
    report_text = _rising_stretches(report) if report is not None else ""
    if not up:
        text += ", and it is never higher at one length than at the one before."
        if averaged:
            text += (" The protocol samples schedule-free AdamW's averaged iterate (Defazio et al., 2024), an average over"
                     " all the steps so far rather than the last step's weights, which is consistent with a curve that never turns up")
            text += (f"; the report's curve does turn up ({report_text})." if report_text else ".")
        return text
    steps = "; ".join(f"after {_epochs(snaps.loc[b])} it scores {snaps.loc[b, 'FID']:.2f}, "
                      f"above the {snaps.loc[a, 'FID']:.2f} of {_n_epochs(snaps.loc[a, 'epochs'])}" for a, b in up)
    text += (f", but not at every length: {steps}. These are snapshots of *one* run, so a change of seed cannot explain "
             f"{'the rise' if len(up) == 1 else 'the rises'}.")
    largest = max(snaps.loc[b, "FID"] - snaps.loc[a, "FID"] for a, b in up)
    if spread == spread:
        text += (f" The {'rise' if len(up) == 1 else 'largest'}, {largest:.2f}, is {'larger' if largest > spread else 'smaller'} than"
                 f" the spread between seeds of one configuration (the baseline's SD of FID, {spread:.2f}, {{doc}}`unet`).")
    if averaged:
        text += (" The protocol samples schedule-free AdamW's averaged iterate, so a rise here is not the noise of the last"
                 " few steps alone.")
    else:
        text += (" With a constant learning rate and no averaging, the sampled weights are the last step's, and they keep"
                 " moving by about as much at every step: a snapshot's FID moves with them.")
        if report_text:
            text += f" The report's own curve turns up too ({report_text})."
        text += (" The usual remedy, an average of the weights, is the subject of {doc}`beyond-ema`, which repeats this"
                 " run with one.")
    return text


def crowd_text(snaps: pd.DataFrame) -> str:
    """MyST: what the samples crowd onto along the run (``snaps`` from :func:`snapshots`): the
    first length when it covers few digits, then whether the most frequent reading's share falls
    steadily, and by more than :data:`THINNING` in all (the crowd thins, with the class KL and
    recall where stored), or not (each length's crowd, and whether its target changes)."""
    if snaps.empty:
        return "No length of seed 0's run is scored yet."

    def share(row: pd.Series, of: str = "") -> str:
        digit = row["most frequent digit"]
        return f"{row['its share']:.0%}{of} as {'an' if digit == 8 else 'a'} \"{digit}\""

    text, rest = "", snaps
    if snaps.iloc[0]["digits covered"] < 10:
        first = snaps.iloc[0]
        text = (f"After {_epochs(first)} the classifier reads {share(first, ' of the samples')}, and finds "
                f"{first['digits covered']} of the ten digits among the samples. ")
        rest = snaps.iloc[1:]
    if len(rest) < 2:
        return text.strip()
    shares = rest["its share"].to_numpy()
    a, b = rest.iloc[0], rest.iloc[-1]
    if np.all(np.diff(shares) <= 0) and shares[-1] < shares[0] - THINNING:
        text += (f"From {_n_epochs(a['epochs'])} on the crowd thins: the most frequent reading takes {a['its share']:.0%} of the"
                 f" samples after {_n_epochs(a['epochs'])} and {b['its share']:.0%} after {b['epochs']:g}, against 10% for an even mix")
        if b["class KL"] < a["class KL"]:  # False where either is NaN
            text += f"; the class KL from the even mix falls from {a['class KL']:.3f} to {b['class KL']:.3f}"
        if a["recall"] == a["recall"] and b["recall"] == b["recall"] and b["recall"] > a["recall"]:
            text += (f", and recall (the share of real digits with a sample near them) rises from {a['recall']:.2f} to"
                     f" {b['recall']:.2f}: longer training buys variety as well as quality")
        return text + "."
    targets = list(dict.fromkeys(int(d) for d in rest["most frequent digit"]))
    text += ("The crowd does not thin steadily: by length, the classifier reads "
             + ", ".join(f"{share(r, ' of the samples' if i == 0 else '')} after {r['epochs']:g}{' epochs' if i == 0 else ''}"
                         for i, (_, r) in enumerate(rest.iterrows()))
             + (". Along one run the crowd changes its target as well as its size." if len(targets) > 1 else "."))
    return text
