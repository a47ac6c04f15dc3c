"""What a study value spends beside the baseline within the same epochs: optimiser steps (a smaller
batch takes more) and parameters (a wider network has more), and whether a study's FIDs follow
that cost, which would make it measure budget more than the setting it changes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .verdicts import listing


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
