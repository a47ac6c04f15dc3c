"""What the book's chapters call: :mod:`.analysis` (pure functions over result tables),
:mod:`.display` (tables, grids and glue in a notebook) and :mod:`.plots` (matplotlib figures).

The names below are the chapters' vocabulary (``book.run_study``, ``book.show``,
``book.glue_study``...), gathered here so that a chapter needs one import.
"""

from ..studies.plan import run_study
from .analysis import (
    numerical_path, provenance_problems,
    best_beyond, best_configuration, cost_text, blind_spot_text, fid_blind_spots, beyond_summary, crowded_digits, digit_share, listing, reference_digit_share, shares_differ, display_table, fid_text, lead_text, merge_shared_runs, order_text,
    paired_change, paired_gap, provenance, separable, ranked_runs, run_values, sampling_spread, study_values,
    study_verdict, summary,
    tuned_reference, noise_band, noise_band_text, versus_choice,
)
from .display import glue_all, glue_run, glue_study, glue_text, grids, show, show_figure, training_and_digits, verdict

__all__ = [
    "numerical_path", "provenance_problems",
    "best_beyond", "best_configuration", "cost_text", "beyond_summary", "blind_spot_text", "fid_blind_spots", "crowded_digits", "digit_share", "listing", "reference_digit_share", "shares_differ", "display_table", "fid_text", "glue_all", "glue_run",
    "glue_study", "glue_text", "grids", "lead_text", "merge_shared_runs", "order_text", "paired_change", "paired_gap", "provenance", "separable",
    "ranked_runs", "run_study", "run_values", "sampling_spread", "show", "show_figure", "study_values", "study_verdict", "summary",
    "training_and_digits", "tuned_reference", "noise_band", "noise_band_text", "verdict", "versus_choice",
]
