"""What the book's chapters call. :mod:`.analysis` reads a study's table (its display, order,
lead sentence, verdict and finding); :mod:`.best` sets the best cell against the baseline;
:mod:`.costs` says what a value spends; :mod:`.appearance` what samples look like;
:mod:`.blind_spots`, :mod:`.protocol` and :mod:`.records` serve the evaluation, protocol and
reproducibility chapters; :mod:`.verdicts` holds the statistics; :mod:`.conclusion` gathers the
verdicts; :mod:`.display` shows tables, grids and glue in a notebook and :mod:`.plots` draws.

The names below are the chapters' vocabulary (``book.run_study``, ``book.show``,
``book.glue_study``...), gathered here so that a chapter needs one import.
"""

from ..studies.plan import run_study
from .analysis import (
    display_table, fid_text, lead_text, merge_shared_runs, noise_band, noise_band_text, order_text, paired_change,
    paired_gap, ranked_runs, run_values, sampling_spread, separable, study_values, study_verdict, summary,
    tuned_reference, versus_choice,
)
from .appearance import crowded_digits, digit_share, reference_digit_share, shares_differ
from .best import best_beyond, best_configuration, beyond_summary
from .blind_spots import blind_spot_text, fid_blind_spots
from .costs import cost_text
from .display import glue_all, glue_run, glue_study, glue_text, grids, show, show_figure, training_and_digits, verdict
from .records import numerical_path, provenance, provenance_problems
from .verdicts import listing

__all__ = [
    "numerical_path", "provenance_problems",
    "best_beyond", "best_configuration", "cost_text", "beyond_summary", "blind_spot_text", "fid_blind_spots", "crowded_digits", "digit_share", "listing", "reference_digit_share", "shares_differ", "display_table", "fid_text", "glue_all", "glue_run",
    "glue_study", "glue_text", "grids", "lead_text", "merge_shared_runs", "order_text", "paired_change", "paired_gap", "provenance", "separable",
    "ranked_runs", "run_study", "run_values", "sampling_spread", "show", "show_figure", "study_values", "study_verdict", "summary",
    "training_and_digits", "tuned_reference", "noise_band", "noise_band_text", "verdict", "versus_choice",
]
