"""Verdicts (:mod:`ddpm_mnist.book.verdicts`) on study tables with known answers."""

import numpy as np
import pandas as pd
import pytest

from ddpm_mnist.book.verdicts import CONFIRMED, CONTRADICTED, NOT_MEASURED, NOT_SEPARABLE, compare_with_choice, paired_interval, verdict


def _table(rows):
    """rows: value -> (fids per seed 0.., precisions or None)."""
    out = []
    for value, (fids, prec) in rows.items():
        seeds = list(range(len(fids)))
        out.append({"value": value, "run": value, "seeds": seeds, "fids": list(fids),
                    "precisions": list(prec) if prec else [np.nan] * len(fids), "recalls": [0.5] * len(fids)})
    return pd.DataFrame(out)


def test_paired_interval_known_cases():
    a, b = {0: 10.0, 1: 12.0, 2: 14.0}, {0: 5.0, 1: 7.0, 2: 9.0, 3: 1.0}
    c = paired_interval(a, b)
    assert (c.n, c.mean, c.low, c.high) == (3, 5.0, 5.0, 5.0)  # a constant difference: no seed noise
    wide = paired_interval(a, b, sampling_sd=2.0)
    assert wide.low < 5 < wide.high and wide.high - wide.low == pytest.approx(2 * 1.96 * 2 * np.sqrt(2 / 3), rel=0.05)
    noisy = paired_interval({0: 1.0, 1: -1.0}, {0: 0.0, 1: 0.0})
    assert noisy.low == pytest.approx(-np.sqrt(2)) and noisy.high == pytest.approx(np.sqrt(2)) and not noisy.below_zero and not noisy.above_zero
    assert paired_interval({0: 1.0}, {1: 1.0}).n == 0


def test_verdicts_on_known_tables():
    choice = "c"
    same = _table({"c": ([50, 60, 70], None), "x": ([51, 59, 71], None)})
    assert verdict(compare_with_choice(same, choice))[0] == NOT_SEPARABLE
    worse = _table({"c": ([50, 60, 70], None), "x": ([80, 91, 99], None)})
    assert verdict(compare_with_choice(worse, choice))[0] == CONFIRMED
    better = _table({"c": ([50, 60, 70], None), "x": ([80, 91, 99], None), "y": ([30, 41, 49], None)})
    word, why = verdict(compare_with_choice(better, choice))
    assert word == CONTRADICTED and why.startswith("y is better by 20.00")
    # the interval is the gain's, in the direction of "better by": both ends positive, around 20
    low, high = (float(x) for x in why.split("(interval ")[1].split(";")[0].split(" to "))
    assert 0 < low < 20 < high
    # y's lower FID comes with a precision collapse (blobs): not a contradiction
    blobs = _table({"c": ([50, 60, 70], [0.8, 0.8, 0.8]), "x": ([80, 91, 99], [0.8] * 3), "y": ([30, 41, 49], [0.3, 0.2, 0.25])})
    word, why = verdict(compare_with_choice(blobs, choice))
    assert word == CONFIRMED and why.startswith("better than x beyond the interval")
    assert why.endswith(", though y scores a lower FID but worse precision or recall")
    two = _table({"c": ([50, 60, 70], None), "x": ([80, 91, 99], None), "z": ([81, 92, 100], None)})
    assert verdict(compare_with_choice(two, choice))[1].startswith("better than x and z beyond the interval, and no value beats it")
    # the sampling noise of the FID widens a tight comparison until it is not separable
    tight = _table({"c": ([50, 60, 70], None), "x": ([45, 55, 65], None)})
    assert verdict(compare_with_choice(tight, choice))[0] == CONTRADICTED
    assert verdict(compare_with_choice(tight, choice, sampling_sd=4.0))[0] == NOT_SEPARABLE  # 1.96 * 4 * sqrt(2/3) > 5


def test_a_study_with_nothing_to_compare_is_not_measured_rather_than_not_separable():
    table = _table({"a": ([50.0], None), "b": ([], None)})  # the choice b has no result yet
    assert verdict(compare_with_choice(table, "b")) == (NOT_MEASURED, "no value shares a seed with the report's choice yet")


def test_bonferroni_widens_with_the_number_of_values():
    base = {"c": ([50, 60, 70, 55, 65], None), "x": ([47, 55, 69, 50, 62], None)}
    few = compare_with_choice(_table(base), "c")
    many = compare_with_choice(_table({**base, **{f"z{i}": ([90, 95, 99, 91, 97], None) for i in range(9)}}), "c")
    fx, mx = few.set_index("value").loc["x", "fid"], many.set_index("value").loc["x", "fid"]
    assert many["level"].iloc[0] == pytest.approx(1 - 0.05 / 10) and mx.high - mx.low >= fx.high - fx.low
    with pytest.raises(ValueError, match="not a value"):
        compare_with_choice(_table(base), "nope")


def test_one_seed_values_borrow_the_study_seed_noise():
    """A value run on one seed is compared with the seed noise the study's other values show."""
    rows = {"c": ([50, 80, 65], None), "x": ([48, 79, 66], None), "y": ([20], None)}
    cmp = compare_with_choice(_table(rows), "c").set_index("value")
    y = cmp.loc["y", "fid"]
    assert y.n == 1 and y.mean == -30 and y.low < -30 < y.high
    alone = compare_with_choice(_table({"c": ([50], None), "y": ([20], None)}), "c").set_index("value").loc["y", "fid"]
    assert np.isnan(alone.low) and "no seed noise measured" in alone.text()
    assert verdict(compare_with_choice(_table({"c": ([50], None), "y": ([20], None)}), "c"))[0] == NOT_SEPARABLE
    # a noisy study: x differs from c by up to 30 between seeds, so y's single 30-point gap is not separable
    noisy = {"c": ([50, 80, 65], None), "x": ([80, 50, 66], None), "y": ([20], None)}
    assert verdict(compare_with_choice(_table(noisy), "c"))[0] == NOT_SEPARABLE


def test_one_seed_study_borrows_the_choice_seed_noise():
    rows = {"c": ([50, 60, 70], None), "dense": ([200], None), "conv": ([60], None)}
    cmp = compare_with_choice(_table(rows), "c").set_index("value")
    assert cmp.loc["dense", "fid"].above_zero and not cmp.loc["conv", "fid"].above_zero
    assert verdict(compare_with_choice(_table(rows), "c"))[0] == CONFIRMED


def test_a_chapters_finding_names_verdict_choice_and_closest_rival():
    from ddpm_mnist.book.analysis import finding, study_verdict

    t = _table({"256": ([50, 60, 70], None), "64": ([30, 41, 49], None), "2048": ([90, 95, 99], None)})
    t["fid_mean"], t["n_seeds"] = [np.mean(f) for f in t["fids"]], [len(f) for f in t["fids"]]
    text = finding(study_verdict(t, "batch-size"), t, "batch-size")
    first, second = text.split("  \n")
    assert first == "**Contradicted.** The report's choice, batch size = 256, scores FID 60.00 over 3 seeds here."
    assert second.startswith("Closest rival: batch size = 64, -20.00 FID against the choice (interval ")
    assert second.endswith("; 3 common seeds; negative is better).")
    alone = t[t["value"] == "256"]
    assert finding(study_verdict(alone, "batch-size"), alone, "batch-size").endswith("No other value shares a seed with it yet.")


def test_protocol_choice_keeps_the_best_trained_of_those_meeting_the_floor():
    import pandas as pd

    from ddpm_mnist.book.protocol import PROTOCOL_FLOOR_SD, protocol_choice

    table = pd.DataFrame({"candidate": ["wide", "tight", "good", "short"], "seeds": [5, 5, 5, 3],
                          "FID mean": [50.0, 68.0, 57.0, 40.0], "FID SD": [PROTOCOL_FLOOR_SD + 1, 2.3, 3.8, 1.0],
                          "fids": [[50.0] * 5, [66.0, 70.0, 68.0, 67.0, 69.0], [56.0, 60.0, 57.0, 55.0, 57.0], [40.0] * 3],
                          "fid seeds": [[0, 1, 2, 3, 4]] * 3 + [[0, 1, 2]]})
    c = protocol_choice(table)
    assert c["runner_up"] == "tight" and c["runner_up_paired"] == ("-11.00 on average over their 5 common seeds "
                                                                      "(SD of the gaps 1.00), lower on 5 of them")
    assert c["choice"] == "good" and c["fid"] == "57.00 ± 3.80" and c["floor"].startswith("meets")
    assert c["tightest"] == "tight" and c["eligible"] == "2" and c["complete"] == "3 of 4"
    none = protocol_choice(table.assign(**{"FID SD": [9.0, 7.0, 8.0, 1.0]}))
    assert none["choice"] == "tight" and none["floor"].startswith("misses") and none["eligible"] == "0"
    assert protocol_choice(table.assign(seeds=1))["choice"] == "—"


def test_the_conclusion_sorts_studies_by_verdict_and_links_their_chapters():
    from pathlib import Path

    from ddpm_mnist.book.conclusion import beyond_text, chapter_of, verdict_groups
    from ddpm_mnist.book.verdicts import Interval
    from ddpm_mnist.studies.beyond import BEYOND
    from ddpm_mnist.studies.report import STUDIES

    book_dir = Path(__file__).resolve().parents[1] / "book"
    for name in [*STUDIES, *BEYOND]:
        assert (book_dir / f"{chapter_of(name)}.md").exists(), name
    summary = pd.DataFrame({"verdict": [CONFIRMED, CONTRADICTED, NOT_SEPARABLE, CONFIRMED],
                            "evidence": ["", "64 is better by 5.00 FID", "", ""]},
                           index=pd.Index(["models", "batch-size", "channels", "loss"], name="name"))
    g = verdict_groups(summary)
    assert g["holds"].startswith("The report's choice holds in 2 of 4 studies: dense, convolutional and U-Net")
    assert "{doc}`unet`" in g["holds"] and " and loss function (4.3.3, {doc}`loss`)" in g["holds"]
    assert g["contradicted"] == "It is contradicted in 1 study: batch size (4.3.1, {doc}`batch-size`), where 64 is better by 5.00 FID. "
    assert g["open"].startswith("This budget cannot separate the values of 1 study: sequence of channels")
    assert g["count"] == "of the report's 4 studies, 2 confirmed, 1 contradicted and 1 not separable"
    assert verdict_groups(summary.iloc[[0]])["contradicted"] == "" and g["pending"] == ""
    summary.loc["channels", "verdict"] = NOT_MEASURED
    g = verdict_groups(summary)
    assert g["open"] == "" and g["pending"].startswith("No value of 1 study can be set against the report's choice yet")
    assert g["count"] == "of the report's 4 studies, 2 confirmed, 1 contradicted, 0 not separable and 1 not measured yet"
    found = [{"label": "x0-l2", "chapter": "beyond-eps", "fid": "30.00 (3 seeds)", "gap": 60.0,
              "interval": Interval(3, 60.0, 30.0, 90.0), "level": 0.99}]
    assert "x0-l2 ({doc}`beyond-eps`), FID 30.00 (3 seeds), lower by 60.00 (interval +30.00 to +90.00)" in beyond_text(found, "90")
    assert beyond_text([], "90").startswith("No change beyond the report")


def test_the_beyond_headline_tells_no_finding_from_no_interval_yet():
    from ddpm_mnist.book.conclusion import beyond_lead, beyond_text
    from ddpm_mnist.book.verdicts import Interval

    nan = float("nan")
    one_seed = [("eps-fixes", pd.Series({"value": "x0-l2"}), Interval(1, 35.0, nan, nan))]
    measured = [("eps-fixes", pd.Series({"value": "x0-l2"}), Interval(3, 2.0, -1.0, 5.0))]
    assert beyond_lead([], one_seed) == "the changes beyond the report have too few seeds yet for an interval against the tuned U-Net"
    assert beyond_lead([], measured) == "no change beyond the report separates from the tuned U-Net"
    assert beyond_lead([], []) == "no change beyond the report is measured yet"
    found = [{"label": "x0-l2", "gap": 35.0, "interval": Interval(3, 35.0, 30.0, 40.0)}]
    assert beyond_lead(found, measured) == ("the largest gain beyond the report is x0-l2, lower than the tuned U-Net by 35.00 FID "
                                            "(interval +30.00 to +40.00)")
    assert beyond_text([], "58", one_seed).startswith("The changes beyond the report have one seed each so far")
    assert beyond_text([], "58", measured).startswith("No change beyond the report is better than the tuned U-Net")
    assert beyond_text([], "58", []) == "No change beyond the report is measured yet (the tuned U-Net: FID 58)."


def test_the_comparison_caption_counts_the_values_compared_so_far(monkeypatch):
    import IPython.display

    from ddpm_mnist.book import analysis, display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    monkeypatch.setattr(display, "glue_all", lambda values: values)
    monkeypatch.setattr(analysis, "sampling_spread", lambda profile, results_dir=None: 0.0)
    t = _table({"256": ([50, 60, 70], None), "64": ([30, 41, 49], None), "2048": ([], None)})
    t["fid_mean"], t["n_seeds"] = [np.mean(f) if f else np.nan for f in t["fids"]], [len(f) for f in t["fids"]]
    display.verdict(t, "batch-size", "bs", "smoke")
    caption = shown[-1].data
    assert caption.endswith("95.0% intervals (Bonferroni over 1 value of 2; the others share no seed with the choice yet).")
    assert verdict(compare_with_choice(t, "256"))[1].endswith("Bonferroni over 1 comparison), with 2048 not measured yet")
    shown.clear()
    display.verdict(t[t["value"] == "256"], "batch-size", "bs", "smoke")
    assert [s.data for s in shown] == ["No value shares a seed with the report's choice yet."]


def test_a_negated_interval_is_the_same_comparison_the_other_way_round():
    from ddpm_mnist.book.verdicts import Interval

    c = paired_interval({0: 10.0, 1: 14.0, 2: 11.0}, {0: 20.0, 1: 21.0, 2: 25.0})
    flipped = paired_interval({0: 20.0, 1: 21.0, 2: 25.0}, {0: 10.0, 1: 14.0, 2: 11.0})
    n = c.negated()
    assert isinstance(n, Interval) and n.n == c.n and n.mean == -c.mean and (n.low, n.high) == (-c.high, -c.low)
    assert n.above_zero == c.below_zero and n.mean == pytest.approx(flipped.mean)
