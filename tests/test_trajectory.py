"""The epochs chapter's reading of one run (ddpm_mnist.book.trajectory), on made-up results."""

import pandas as pd
import pytest

from ddpm_mnist.book import trajectory


def result(hash_: str, epochs: float, fid: float, histogram: list[int], kl: float | None = None, recall: float | None = None) -> dict:
    return {"hash": hash_, "train": {"epochs": epochs, "steps": int(epochs * 100)},
            "metrics": {"fid": fid, "digits": {"histogram": histogram, "classes_covered": sum(h > 0 for h in histogram)},
                        "class_kl": kl, "recall": recall}}


def even(top: int, digit: int = 1) -> list[int]:
    """100 samples: ``top`` read as ``digit``, the rest spread as evenly as they go over the other nine."""
    others = [(100 - top) // 9 + (i < (100 - top) % 9) for i in range(9)]
    return others[:digit] + [top] + others[digit:]


CROWDED = {"1": [result("a", 0.1, 300.0, [0] * 8 + [100, 0])],
           "10": [result("b", 1.0, 60.0, even(70, 1))],
           "50": [result("c", 3.0, 80.0, even(40, 7))],
           "200": [result("d", 12.0, 40.0, even(50, 7))],
           "1000": [result("d", 12.0, 40.0, even(50, 7))]}
THINNING = {"1": [result("a", 0.1, 300.0, [0] * 8 + [100, 0], 2.3, 0.0)],
            "10": [result("b", 1.0, 90.0, even(46, 8), 0.6, 0.01)],
            "50": [result("c", 3.0, 55.0, even(24, 7), 0.2, 0.33)],
            "200": [result("d", 12.0, 21.7, even(13, 3), 0.06, 0.74)]}


def test_snapshots_are_one_row_per_run_shortest_first():
    snaps = trajectory.snapshots(dict(reversed(list(CROWDED.items()))))
    assert list(snaps["report's epochs"]) == ["1", "10", "50", "1000 = 200"]
    assert list(snaps["FID"]) == [300.0, 60.0, 80.0, 40.0]
    assert snaps["its share"].iloc[1] == pytest.approx(0.7) and snaps["most frequent digit"].iloc[1] == 1
    assert snaps["class KL"].isna().all() and snaps["recall"].isna().all()  # results from before those metrics
    rounded = {"1": [result("a", 0.01, 190.0, [100] + [0] * 9)], "5": [result("b", 0.01, 190.0, [100] + [0] * 9)]}
    assert list(trajectory.snapshots(rounded)["report's epochs"]) == ["1 = 5"]  # both one step: one network


def test_rises_are_the_neighbours_that_go_up():
    assert trajectory.rises(pd.Series([5.0, 3.0, 4.0, 2.0, 6.0])) == [(1, 2), (3, 4)]
    assert trajectory.rises(pd.Series([5.0, float("nan"), 6.0])) == [(0, 2)]
    assert trajectory.rises(pd.Series([3.0, 2.0, 1.0])) == []


def test_course_names_each_rise_and_sets_it_against_the_seed_spread():
    snaps = trajectory.snapshots(CROWDED)
    report = pd.Series([197.6, 12.6, 13.3, 15.1], index=["1", "50", "100", "200"])
    text = trajectory.course_text(snaps, averaged=False, spread=5.0, report=report)
    assert "not at every length" in text and "scores 80.00, above the 60.00 of 1 epoch" in text
    assert "20.00, is larger than" in text and "12.6 at 50 epochs, 13.3 at 100, 15.1 at 200" in text
    assert "{doc}`beyond-ema`" in text  # the remedy for last weights
    assert "is smaller than" in trajectory.course_text(snaps, averaged=True, spread=25.0)


def test_course_of_a_falling_run_says_so_and_makes_no_claim_of_reversal():
    text = trajectory.course_text(trajectory.snapshots(THINNING), averaged=True, spread=4.0)
    assert "never higher at one length" in text and "averaged iterate" in text and "not at every length" not in text
    assert trajectory.course_text(trajectory.snapshots({"1": CROWDED["1"]}), False, 4.0).startswith("Seed 0's run has fewer")


def test_crowd_thins_or_moves():
    thin = trajectory.crowd_text(trajectory.snapshots(THINNING))
    assert "reads 100% of the samples as an \"8\"" in thin and "finds 1 of the ten digits" in thin
    assert "crowd thins" in thin and "46%" in thin and "13% after 12" in thin and "0.600 to 0.060" in thin and "0.01 to 0.74" in thin
    moving = trajectory.crowd_text(trajectory.snapshots(CROWDED))
    assert "does not thin steadily" in moving and "changes its target" in moving and "crowd thins" not in moving
    same_target = {k: v for k, v in CROWDED.items() if k != "10"}
    same_target["20"] = [result("e", 2.0, 70.0, even(20, 7))]
    assert "changes its target" not in trajectory.crowd_text(trajectory.snapshots(same_target))
    stuck = {k: [result(k, float(k), 100.0, [100] + [0] * 9)] for k in ("1", "2", "3")}  # all "0" from start to end
    assert "crowd thins" not in trajectory.crowd_text(trajectory.snapshots(stuck))
