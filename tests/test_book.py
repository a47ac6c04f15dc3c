"""The book: every chapter builds in the smoke profile, study pages show a table and images,
and papermill runs a chapter with parameters.

``make test`` builds the smoke book first and points ``DDPM_SMOKE_BOOK`` at it; run alone,
these tests build it themselves into a temporary directory.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STUDY_PAGES = ["dense", "conv", "unet", "batch-size", "epochs", "loss", "channels", "noising-steps", "noising-process",
               "normalization", "tuned"]

pytestmark = pytest.mark.slow


def chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def smoke_env(results: Path) -> dict:
    env = dict(os.environ, DDPM_PROFILE="smoke", DDPM_RESULTS_DIR=str(results))
    env.pop("MPLBACKEND", None)  # the kernel must use its inline backend, or figures are not captured
    if "DDPM_MNIST_DATA" in env:
        env["DDPM_MNIST_DATA"] = str(Path(env["DDPM_MNIST_DATA"]).resolve())
    return env


@pytest.fixture(scope="session")
def smoke_html(tmp_path_factory) -> Path:
    built = os.environ.get("DDPM_SMOKE_BOOK")
    if built:
        return Path(built) / "html"
    out = tmp_path_factory.mktemp("book")
    subprocess.run([str(BIN / "jupyter-book"), "build", str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
                   env=smoke_env(out / "results"), check=True, capture_output=True)
    return out / "_build" / "html"


def test_toc_lists_every_chapter_file():
    listed = set(chapters())
    on_disk = {f"book/{p.stem}" for p in (ROOT / "book").glob("*.md")}
    assert listed == on_disk


def test_every_chapter_page_exists(smoke_html):
    for chapter in chapters():
        page = smoke_html / f"{chapter}.html"
        assert page.exists(), page
        assert "Traceback" not in page.read_text(), f"{page} shows a traceback"


@pytest.mark.parametrize("name", STUDY_PAGES)
def test_study_pages_hold_table_and_image(smoke_html, name):
    html = (smoke_html / "book" / f"{name}.html").read_text()
    assert "<table" in html, f"{name}: no table"
    assert re.search(r"<img[^>]+src=", html), f"{name}: no image"
    assert "report FID" in html and "our FID" in html


BEYOND_PAGES = ["beyond-eps", "beyond-ddim", "beyond-ema", "beyond-guidance", "beyond-fashion"]


@pytest.mark.parametrize("name", BEYOND_PAGES)
def test_beyond_pages_hold_table_and_image(smoke_html, name):
    html = (smoke_html / "book" / f"{name}.html").read_text()
    assert "<table" in html and re.search(r"<img[^>]+src=", html), f"{name}: no table or no image"
    assert "our FID" in html and "For comparison, the tuned U-Net" in html


def test_memorisation_page_shows_neighbours(smoke_html):
    html = (smoke_html / "book" / "beyond-memorisation.html").read_text()
    assert len(re.findall(r"<img[^>]+src=", html)) >= 2


def test_missing_and_compute_time_follow_the_stored_results(tmp_path):
    from ddpm_mnist.studies import compute, plan, runner

    before = plan.missing("smoke", tmp_path)
    assert len(before) > 40 and before["hash"].is_unique and list(before.columns) == ["study", "value", "seed", "hash"]
    assert before.iloc[0]["study"] == "protocol"  # computed first: every other result depends on it
    first = before[before["study"] == "models"].iloc[0]
    assert (first["value"], first["seed"]) == ("unet", 0)
    runner.study("models", "smoke", seeds=[0], values=["unet"], results_dir=tmp_path, device="cpu", progress=False)
    after = plan.missing("smoke", tmp_path)
    assert len(after) == len(before) - 1 and first["hash"] not in set(after["hash"])
    times = compute.compute_time("smoke", tmp_path)
    assert times.iloc[-1]["study"].startswith("total") and times.iloc[-1]["runs"] == 1 and times.iloc[-1]["training (min)"] >= 0


def test_training_seconds_counts_each_training_process_once():
    """Snapshots of one training share its time; a separately trained shorter run adds its own;
    a run that continued another adds only what it trained itself."""
    from ddpm_mnist.studies import compute

    def length(steps, wall, created, extended_from_step=None):
        return {"steps": steps, "wall": wall, "created": created, "extended_from_step": extended_from_step}

    alone = length(700, 100.0, 1_000.0)                  # trained on its own, long before the long run
    snapshot = length(350, 60.0, 5_005.0)                # scored from the long run's milestone checkpoint
    long_run = length(1400, 300.0, 5_010.0)              # from scratch: began at 4,710
    assert compute._training_seconds([long_run]) == 300.0
    assert compute._training_seconds([snapshot, long_run]) == 300.0
    assert compute._training_seconds([alone, snapshot, long_run]) == 400.0
    continued = length(2800, 500.0, 9_000.0, extended_from_step=1400)  # its wall includes the long run's 300
    assert compute._training_seconds([alone, snapshot, long_run, continued]) == 600.0
    later = length(350, 40.0, 9_500.0)                   # the same length as the snapshot, trained on its own afterwards
    assert compute._training_seconds([later, long_run]) == 340.0
    assert compute._training_seconds([]) == 0.0


def test_epochs_rule_seeds_continue_their_shorter_runs():
    from ddpm_mnist.studies import plan
    from ddpm_mnist.studies.registry import get_study

    st = get_study("epochs")
    assert plan.rule_batches(st, [25, 100, 1000]) == [[25], [100], [1000]]
    assert plan.rule_batches(get_study("loss"), ["x-prev-l2", "x-prev-l1"]) == [["x-prev-l2", "x-prev-l1"]]
    assert plan.rule_batches(st, []) == []


def test_papermill_runs_a_chapter_with_parameters(tmp_path):
    nb = tmp_path / "evaluation.ipynb"
    subprocess.run([str(BIN / "jupytext"), "--to", "ipynb", "-o", str(nb), str(ROOT / "book" / "evaluation.md")], check=True, capture_output=True)
    out = tmp_path / "out.ipynb"
    env = smoke_env(tmp_path / "results")
    env.pop("DDPM_PROFILE")  # the parameter, not the environment, must select the profile
    subprocess.run([str(BIN / "papermill"), str(nb), str(out), "-p", "profile", "smoke", "-p", "device", "cpu", "--cwd", str(ROOT / "book")],
                   check=True, capture_output=True, env=env)
    cells = json.loads(out.read_text())["cells"]
    injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "profile = \"smoke\"" in "".join(injected[0]["source"])
    outputs = json.dumps([c.get("outputs", []) for c in cells])
    assert "the reference set itself" in outputs


def test_seed_rule_trains_further_seeds_only_where_needed(tmp_path):
    from ddpm_mnist import book
    from ddpm_mnist.studies import plan

    from ddpm_mnist.studies.registry import get_study

    st = get_study("normalization")
    table = book.run_study(st.name, "smoke", [0, 1, 2], tmp_path, "cpu")
    spread = plan.seed_spread("smoke", tmp_path)
    assert spread == spread  # the baseline's three seeds were trained for it
    first = table[["value", "fid_mean", "nonfinite_fraction"]].assign(fid_mean=[f[0] for f in table["fids"]])
    close = plan.rule_values(st, first, "smoke", tmp_path)
    choice = st.label(st.report_choice)  # the baseline: its three seeds are the models study's
    assert dict(zip(table["value"], table["n_seeds"])) == {st.label(v): 3 if v in close or st.label(v) == choice else 1
                                                           for v in st.values}
    asked = [r for r in plan.extra_seed_runs("smoke", tmp_path) if r[0] == "normalization"]
    assert asked == ([("normalization", close, [1, 2])] if close else [])
    assert plan.extra_seed_runs("smoke", tmp_path, studies=["normalization"]) == asked
    assert "normalization" not in set(plan.missing("smoke", tmp_path)["study"])


def test_study_values_read_gaps_against_paired_intervals():
    import pandas as pd

    from ddpm_mnist import book

    table = pd.DataFrame({"value": ["32", "256", "512"], "report_best": [False, True, False],
                          "seeds": [[0, 1, 2]] * 3, "fids": [[30.0, 31.0, 29.0], [20.0, 21.0, 19.0], [21.0, 19.0, 22.0]]})
    table["fid_mean"] = table["fids"].map(lambda f: sum(f) / len(f))
    table["precisions"] = table["recalls"] = [[0.5] * 3] * 3
    # 32 is worse than the report's 256 on every seed by 10: beyond its interval; 512 is not separable
    assert book.versus_choice(table, "batch-size", "t") == {"t_ahead": "none", "t_behind": "32 (30.00)"}
    better = table.assign(fids=[[10.0, 11.0, 9.0], [20.0, 21.0, 19.0], [21.0, 19.0, 22.0]], fid_mean=[10.0, 20.0, 20.0 + 2 / 3])
    assert book.versus_choice(better, "batch-size", "t")["t_ahead"] == "32 (10.00)"
    out = book.study_values(table, "batch-size", "t")
    assert out["t_best"] == "256" and out["t_lead"].startswith("The report chooses batch size = 256, and at this profile's budget our lowest mean FID is there too")
    assert out["t_margin"].startswith("0.67 on 3 common seeds, 95% interval") and out["t_margin"].endswith(": not separable")
    # rows that sample one network differently: only the FID's sampling noise enters
    assert out["t_margin"] != book.study_values(table, "batch-size", "t", 1.0, sampling=True)["t_margin"]
    assert book.study_values(table, "batch-size", "t", 1.0, sampling=True)["t_margin"].endswith("within the FID's own noise, a tie")
    assert book.study_values(table, "batch-size", "t", 0.1, sampling=True)["t_margin"].endswith(": a ranking")
    # one seed each and no other seeds to learn the seed noise from: no interval, and no list against the choice
    one = table.assign(seeds=[[0]] * 3, fids=[[30.0], [20.0], [21.0]], fid_mean=[30.0, 20.0, 21.0])
    assert book.study_values(one, "batch-size", "t")["t_margin"] == "1.00 on 1 common seed, with no seed noise measured yet to read it against"
    assert book.versus_choice(one, "batch-size", "t") == {"t_ahead": "—", "t_behind": "—"}
    assert book.study_values(table.assign(fid_mean=float("nan")), "batch-size", "t")["t_margin"].startswith("not measured")
    assert book.noise_band(1.0) == pytest.approx(2.772, abs=1e-3) and "± 2.77" in book.noise_band_text(1.0)


def test_the_reading_leads_with_means_only_where_they_are_over_the_same_seeds():
    import pandas as pd

    from ddpm_mnist import book

    def table(fids, seeds):
        t = pd.DataFrame({"value": ["cosine", "linear-noise"], "report_best": [False, True], "seeds": seeds, "fids": fids})
        return t.assign(fid_mean=t["fids"].map(lambda f: sum(f) / len(f)))

    # the noising-process study at the cpu profile with cosine on seed 0 alone: its lower mean hides a worse seed 0
    lead = book.lead_text(table([[57.04], [55.46, 62.88, 55.57]], [[0], [0, 1, 2]]), "noising-process")
    assert lead == ("The report chooses linear-noise, at 57.97 over 3 seeds here. The lowest mean FID is at cosine, 57.04 over 1 seed, "
                    "but the two means are over different seeds: on the seed both have, cosine scores 1.58 higher than the report's choice.")
    assert book.lead_text(table([[50.0, 52.0], [55.0, 57.0]], [[0, 1], [0, 1]]), "noising-process") == (
        "The report chooses linear-noise; at this profile's budget our lowest mean FID is at cosine, 51.00, against 56.00 at the "
        "report's choice, over 2 seeds each: by the means alone the report's choice is not our best; the verdict below says "
        "whether the seeds separate the two.")
    assert book.lead_text(table([[60.0], [55.0]], [[0], [0]]), "noising-process").startswith(
        "The report chooses linear-noise, and at this profile's budget our lowest mean FID is there too: 55.00 over 1 seed")
    assert book.lead_text(table([[60.0], [55.0]], [[0], [0]]).assign(fid_mean=[float("nan"), 55.0]), "noising-process") == (
        "The report chooses linear-noise, at 55.00 over 1 seed here; no other value has a result yet.")
    assert book.lead_text(table([[55.0], [55.0]], [[0], [0]]), "noising-process").endswith("is at cosine and at the report's choice alike.")
    assert "share no seed yet" in book.lead_text(table([[50.0], [55.0]], [[3], [0]]), "noising-process")
    assert book.lead_text(table([[50.0], [float("nan")]], [[0], []]).assign(fid_mean=[50.0, float("nan")]), "noising-process") == (
        "The report chooses linear-noise, which has no result here yet; our lowest FID so far is at cosine, 50.00 over 1 seed.")


def test_paired_change_and_its_words():
    import pandas as pd

    from ddpm_mnist import book

    a = pd.Series({"value": "a", "seeds": [0, 1, 2], "fids": [30.0, 32.0, 31.0]})
    b = pd.Series({"value": "b", "seeds": [0, 1, 2], "fids": [20.0, 21.0, 22.0]})
    change = book.paired_change(a, b)
    assert change.n == 3 and change.mean == pytest.approx(10.0) and book.separable(change) == "separable"
    near = pd.Series({"value": "c", "seeds": [0, 1, 2], "fids": [25.0, 16.0, 22.0]})
    assert book.separable(book.paired_change(near, b)) == "not separable"
    lone = pd.Series({"value": "d", "seeds": [5], "fids": [1.0]})
    assert book.separable(book.paired_change(lone, b)) == "not measured"


def test_values_sharing_a_run_are_one_candidate():
    import pandas as pd

    from ddpm_mnist import book

    # the profile caps 200 and 1000 epochs to one run: it is best once, not best and runner-up
    table = pd.DataFrame({"value": ["50", "100", "200", "1000"], "run": ["a", "b", "c", "c"], "fid_mean": [90.0, 60.0, 30.0, 30.0],
                          "report_best": [True, False, False, False], "seeds": [[0]] * 4, "fids": [[90.0], [60.0], [30.0], [30.0]],
                          "report_fid": [13.0, 15.0, None, 12.0]})
    assert book.ranked_runs(table)["value"].tolist() == ["200 = 1000", "100", "50"]
    merged = book.merge_shared_runs(table.assign(fid_mean=[90.0, float("nan"), 30.0, 30.0]))  # table order, rows without results kept
    assert merged["value"].tolist() == ["50", "100", "200 = 1000"] and merged["values"].iloc[-1] == ["200", "1000"]
    out = book.study_values(table, "epochs", "t")
    assert out["t_best"] == "200 = 1000" and out["t_margin"].startswith("30.00 on 1 common seed")
    assert out["t_lead"].startswith("The report chooses 50 epochs; at this profile's budget our lowest mean FID is at 200 = 1000 epochs, 30.00")
    # the report's order is over the values it has numbers for
    assert out["t_order"] == "ours: 200 = 1000 < 100 < 50; the report's: 1000 < 50 < 100"
    assert book.order_text(table.assign(fid_mean=float("nan"))) == "not measured yet"


def test_paired_gap_uses_only_the_common_seeds():
    import pandas as pd

    from ddpm_mnist import book

    worse = pd.Series({"seeds": [0, 1, 2], "fids": [50.0, 90.0, 70.0]})
    better = pd.Series({"seeds": [2, 0], "fids": [60.0, 44.0]})
    assert book.paired_gap(worse, better) == ([0, 2], 8.0)
    assert book.paired_gap(worse, pd.Series({"seeds": [5], "fids": [1.0]}))[0] == []


def test_seed_span_is_set_against_each_runs_seed0_difference_from_the_choice(monkeypatch):
    import pandas as pd

    from ddpm_mnist.book import analysis

    monkeypatch.setattr(analysis, "tuned_row", lambda profile, results_dir=None: pd.Series({"n_seeds": 3, "fids": [50.0, 60.0, 54.0], "fid_std": 5.0}))
    expected = {"smaller": 0, "n": 0}

    def tabulate(st, prof, seeds, folder, values=None):
        labels = [st.label(v) for v in st.values]
        choice = st.label(st.report_choice)
        runs = {label: ("choice" if label == choice else "shared" if i >= len(labels) - 2 and st.param == "epochs" else label)
                for i, label in enumerate(labels)}
        gaps = {label: 0.0 if runs[label] == "choice" else (4.0 if i % 2 else 25.0) for i, label in enumerate(labels)}
        if st.name != "models":
            for run in {runs[label] for label in labels} - {"choice"}:
                gap = next(gaps[label] for label in labels if runs[label] == run)
                expected["n"] += 1
                expected["smaller"] += gap < 10.0
        return pd.DataFrame({"value": labels, "run": [runs[label] for label in labels], "fid_mean": [55.0 + gaps[label] for label in labels]})

    monkeypatch.setattr(analysis.runner, "tabulate", tabulate)
    text = analysis.seed_span_text("cpu")
    assert expected["n"] > 0 < expected["smaller"] < expected["n"]
    assert text.startswith("The seeds span 10.00 FID (standard deviation 5.00)")
    assert f"wider than {expected['smaller']} of the {expected['n']} differences" in text
    monkeypatch.setattr(analysis, "tuned_row", lambda profile, results_dir=None: pd.Series({"n_seeds": 1, "fids": [50.0], "fid_std": float("nan")}))
    assert "not measured yet" in analysis.seed_span_text("cpu")


def test_fid_blind_spots_pick_the_runs_the_fid_misjudges(monkeypatch):
    from ddpm_mnist.book import blind_spots

    def result(h, seed, fid, precision, recall, class_kl):
        return {"hash": h, "seed": seed, "samples": [], "metrics": {"fid": fid, "precision": precision, "recall": recall,
                                                                     "class_kl": class_kl, "n_samples": 1000}}

    base = result("base", 0, 50.0, 0.8, 0.3, 0.2)
    runs = {"loss": {"x-prev-l2": [base], "x-prev-l1": [result("varied", 0, 40.0, 0.5, 0.6, 0.1)],  # recall buys it back
                     "mu-tilde-l1": [result("off", 1, 70.0, 0.6, 0.2, 0.4), result("far", 2, 80.0, 0.1, 0.0, 2.3)]},  # far: above 1.5x
            "batch-size": {"64": [result("crowd", 0, 60.0, 0.75, 0.1, 1.4), result("blob", 1, 55.0, 0.3, 0.1, 1.9)]}}

    def study_results(name, profile, seeds, results_dir=None, values=None):
        return {"unet": [base]} if name == "models" else runs.get(name, {})

    monkeypatch.setattr(blind_spots.runner, "study_results", study_results)
    table = blind_spots.fid_blind_spots("cpu").set_index("case")
    assert table.attrs["candidates"] == 4 and table.attrs["stored"] and table.attrs["samples"] == 1000
    assert table.loc["off the digits", "run"] == "batch size = 64, seed 1"  # the blob: lowest precision, no better recall
    assert table.loc["crowded", "run"] == "batch size = 64, seed 0"  # the blob's class KL is higher, but it is no digit set
    assert table.loc["the baseline", "stored FID"] == 50.0


def test_blind_spot_text_states_only_what_the_metrics_show():
    import pandas as pd

    from ddpm_mnist.book import blind_spots

    def spots(off_precision, crowded_kl):
        table = pd.DataFrame([
            {"case": "the baseline", "run": "the baseline (T = 15), seed 0", "stored FID": 55.0, "precision": 0.8, "recall": 0.25, "class_kl": 0.3},
            {"case": "off the digits", "run": "noising steps T = 100, seed 0", "stored FID": 60.0, "precision": off_precision, "recall": 0.1, "class_kl": 0.5},
            {"case": "crowded", "run": "x-prev-l1, seed 1", "stored FID": 70.0, "precision": 0.85, "recall": 0.05, "class_kl": crowded_kl}])
        table.attrs["candidates"] = 12
        return table

    found = blind_spots.blind_spot_text(spots(0.5, 1.6))
    assert found.startswith("Of the 12 stored runs that score at most 1.5 times the baseline's FID, noising steps T = 100, seed 0 falls")
    assert "precision 0.50 against 0.80" in found and "x-prev-l1, seed 1 crowds them onto a few" in found
    none = blind_spots.blind_spot_text(spots(0.75, 0.4))
    assert "none falls far below the baseline's precision of 0.80" in none and "None of those whose samples are digits crowds" in none
    assert "falls furthest" not in none and "crowds them" not in none
    empty = spots(0.5, 1.6).iloc[:1]
    empty.attrs["candidates"] = 0
    assert "No stored run" in blind_spots.blind_spot_text(empty)


def test_cost_order_text_names_the_moves_where_more_cost_does_not_help():
    import pandas as pd

    from ddpm_mnist.book import costs

    table = pd.DataFrame({"value": ["64", "256", "1024"], "steps": [2800, 700, 175], "fid_mean": [50.0, 60.0, 55.0]})
    text = costs.cost_order_text(table)
    assert "at 1 of the 2 moves between neighbouring values (1024 → 256, each towards more steps)" in text
    table["fid_mean"] = [40.0, 60.0, 80.0]
    assert "falls at every step up in optimiser steps" in costs.cost_order_text(table)
    table["fid_mean"] = [40.0, float("nan"), float("nan")]
    assert "once two values are stored" in costs.cost_order_text(table)
    widths = pd.DataFrame({"value": ["(8, 16, 32)", "(32, 64, 128)", "(64, 128, 256)"], "parameters": [3e4, 5e5, 2e6],
                           "fid_mean": [137.0, 58.0, 43.0]})
    assert costs.cost_order_text(widths, "parameters").endswith("the order of the FIDs is the order of the parameter counts.")
    widths["parameters"] = [3e4, float("nan"), 2e6]  # a value without a result has no count: it is left out
    assert costs.cost_order_text(widths, "parameters").startswith("Over the 2 values stored")
    # the smoke profile: every batch size takes one step, so there is no order to follow
    same = pd.DataFrame({"value": ["32", "256", "2048"], "steps": [1, 1, 1], "fid_mean": [196.0, 192.0, 192.0]})
    assert costs.cost_order_text(same) == "The 3 values stored share one count of optimiser steps here (1): the FID cannot follow it."
    tied = pd.DataFrame({"value": ["32", "256", "2048"], "steps": [4, 1, 1], "fid_mean": [150.0, 192.0, 180.0]})
    assert "falls at every step up" in costs.cost_order_text(tied)  # 2048 and 256 tie: no move between them


def test_digit_share_is_the_classifier_fraction():
    from ddpm_mnist import book

    result = {"metrics": {"digits": {"histogram": [0, 30, 10, 0, 0, 0, 0, 60, 0, 0]}}}
    assert book.digit_share(result, 1) == 0.3 and book.digit_share(result, 7) == 0.6 and book.digit_share(result, 0) == 0


def test_reference_digit_share_counts_the_test_labels():
    from ddpm_mnist import book

    shares = [book.reference_digit_share(d) for d in range(10)]
    assert abs(sum(shares) - 1) < 1e-6
    assert round(shares[1] * 10_000) == 1135 and round(shares[5] * 10_000) == 892  # MNIST's test set: 1,135 ones, 892 fives


def test_shares_differ_at_two_standard_errors():
    from ddpm_mnist import book

    # 0.5 against 0.5 + d on 1,000 samples each: the standard error of the difference is about 0.0224.
    assert not book.shares_differ(0.5, 0.54, 1000, 1000)
    assert book.shares_differ(0.5, 0.45, 1000, 1000)
    assert book.shares_differ(0.89, 0.894, 10**7, 10**7) and not book.shares_differ(0.89, 0.894, 1000, 1000)


def test_crowded_digits_are_read_twice_as_often_as_the_test_set_has_them():
    from ddpm_mnist import book

    # the fewer-steps network of seed 0 at the cpu profile: 1s and 8s take 83% of 1,000 samples
    crowd = book.crowded_digits([31, 397, 15, 16, 20, 14, 19, 40, 437, 11])
    assert [d for d, _, _ in crowd] == [8, 1] and crowd[0][1] == 0.437 and abs(crowd[1][2] - 0.1135) < 1e-9
    assert book.crowded_digits([100] * 10) == [] and book.crowded_digits([0] * 10) == []
    # twice the test set's share, but on 20 samples the count cannot tell it from chance
    assert book.crowded_digits([2, 4, 2, 2, 2, 2, 2, 2, 0, 2]) == []
    assert [d for d, _, _ in book.crowded_digits([10, 60, 10, 10, 10, 10, 10, 10, 0, 10])] == [1]


def test_display_table_shows_the_counts_a_study_changes():
    import pandas as pd

    from ddpm_mnist import book

    nan = float("nan")
    table = pd.DataFrame({"value": ["32", "256", "2048"], "fid_mean": [50.0, 40.0, nan], "fid_std": [nan, 3.0, nan],
                          "best": [False, True, False], "report_fid": [40.0, 21.4, 60.0], "report_best": [False, True, False],
                          "n_seeds": [1, 3, 0], "images_seen": [180000, 180000, nan], "steps": [5625, 703, nan],
                          "parameters": [1000, 1000, nan], "train_time_s": [120.0, 60.0, nan], "classes_covered": [10, 10, nan]})
    out = book.display_table(table, "batch-size")
    assert "optimiser steps" in out and "parameters" not in out
    assert out["optimiser steps"].tolist() == ["5,625", "703", "—"]
    assert out["our FID (mean ± SD over seeds; ★ lowest)"].tolist() == ["50.00", "40.00 ± 3.00 ★", "—"]
    assert out["report FID (Inception; ★ its choice)"].tolist() == ["40.0", "21.4 ★", "60.0"]
    assert "parameters" in book.display_table(table.assign(parameters=[1000, 4000, nan]), "batch-size")
    # a one-seed value lower than the three-seed means does not get the star
    lone = book.display_table(table.assign(fid_mean=[30.0, 40.0, nan]), "batch-size")
    assert lone["our FID (mean ± SD over seeds; ★ lowest)"].tolist() == ["30.00", "40.00 ± 3.00 ★", "—"]
    # rows scored in different feature spaces (MNIST and Fashion-MNIST) are not ranked
    fashion = pd.DataFrame({"value": ["MNIST", "Fashion-MNIST"], "fid_mean": [40.0, 90.0], "fid_std": [nan, nan],
                            "report_fid": [None, None], "report_best": [False, False], "n_seeds": [1, 1],
                            "images_seen": [1.0, 1.0], "steps": [1.0, 1.0], "parameters": [1.0, 1.0], "train_time_s": [1.0, 1.0],
                            "classes_covered": [10, 10]})
    assert "★" not in "".join(book.display_table(fashion, "fashion")["our FID (mean ± SD over seeds)"])
    # the epochs study says which epochs were trained beside the report's it stands for
    epochs = table.assign(value=["1", "50", "1000"], epochs=[0.06, 3.0, 12.0], report_fid=[197.6, 12.6, 10.9])
    out = book.display_table(epochs, "epochs")
    assert out["epochs (ours)"].tolist() == ["0.06", "3", "12"] and "epochs (ours)" not in book.display_table(table, "batch-size")


def test_named_value_says_what_a_bare_number_is():
    from ddpm_mnist.book import analysis
    from ddpm_mnist.studies.beyond import BEYOND
    from ddpm_mnist.studies.registry import get_study

    assert analysis.named_value(BEYOND["guidance"], "1") == "guidance scale = 1"
    assert analysis.named_value(get_study("batch-size"), "64") == "batch size = 64"
    assert analysis.named_value(BEYOND["ema"], "200") == "200 epochs"
    assert analysis.named_value(BEYOND["eps-fixes"], "v-l2") == "v-l2"


def test_numerical_path_names_precision_and_compile():
    from ddpm_mnist import book

    def result(steps, compile=False):
        return {"train": {"precision_steps": steps, "numerics": {"compile": compile}} if steps is not None else {}}

    assert book.numerical_path(result({"float32": 703})) == "float32, eager"
    assert book.numerical_path(result({"float32": 200, "bfloat16": 503}, True)) == "bfloat16 autocast + float32, compiled"
    assert book.numerical_path(result(None)) == "precision not recorded, compile not recorded"
    bf16_sampled = {**result({"float32": 703}), "metrics": {"sampling_path": {"precision": "bfloat16"}}}
    assert book.numerical_path(bf16_sampled) == "float32, eager, sampled in bfloat16"


def test_provenance_names_the_training_protocol_once_and_the_variance_where_it_applies(monkeypatch):
    from ddpm_mnist.book import records

    def result(sampler, seed=0):
        return {"device_name": "cpu x1 threads", "code_version": "0.1.0+abc", "seed": seed,
                "metrics": {"features": "mnist-cnn", "n_samples": 1000, "reference": "test"},
                "train": {"precision_steps": {"float32": 10}, "numerics": {"compile": False}},
                "config": {"optimizer": "schedulefree", "lr": 2e-3, "warmup_steps": 35, "sampler": sampler, "variance": "beta"}}

    mixed = {"ancestral": [result("ancestral")], "ddim": [result("ddim")]}
    monkeypatch.setattr(records.runner, "study_results", lambda *a, **k: mixed)
    line = records.provenance("fewer-steps", "smoke", [0])
    assert "protocol schedule-free AdamW, lr 0.002 after 35 warm-up steps, gradients clipped at norm 1; the ancestral rows " \
           "sample with σ² = β_t;" in line
    assert line.count("schedule-free") == 1
    monkeypatch.setattr(records.runner, "study_results", lambda *a, **k: {"a": [result("ancestral")], "b": [result("ancestral", 1)]})
    assert "gradients clipped at norm 1, σ² = β_t; trained on" in records.provenance("batch-size", "smoke", [0, 1])


def test_the_analysis_layer_needs_no_notebook():
    """The book's analysis runs in a plain interpreter: importing it loads neither IPython nor myst-nb."""
    modules = ", ".join(f"ddpm_mnist.book.{m}" for m in ("analysis", "appearance", "best", "blind_spots", "conclusion", "costs",
                                                          "protocol", "records", "trajectory", "verdicts"))
    code = f"import sys, {modules}; print(sorted(m for m in ('IPython', 'myst_nb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_protocol_text_names_optimiser_schedule_clipping_averaging_and_variance():
    from ddpm_mnist.book.records import protocol_text

    assert protocol_text({}) == "AdamW, lr 0.001 constant, gradients clipped at norm 1, σ² = β_(t-1) (the report's)"
    cosine = {"lr": 2e-3, "lr_schedule": "cosine", "warmup_steps": 35, "ema_decay": 0.999, "ema_warmup": True, "variance": "beta"}
    assert protocol_text(cosine) == ("AdamW, lr 0.002 cosine after 35 warm-up steps, gradients clipped at norm 1, "
                                     "EMA 0.999 (warm-up), σ² = β_t")
    assert protocol_text({"optimizer": "schedulefree", "grad_clip": None, "sampler": "ddim"}) == \
        "schedule-free AdamW, lr 0.001, no gradient clipping"
    assert "EMA" not in protocol_text({"ema_decay": 0.999, "use_ema": False})


def test_the_best_cell_without_seed_noise_says_it_has_no_interval_yet():
    import pandas as pd

    from ddpm_mnist.book.best import _best_against_baseline

    def row(value, fids, seeds):
        return pd.Series({"value": value, "fids": fids, "seeds": seeds, "fid_mean": sum(fids) / len(fids),
                          "fid_std": float("nan") if len(fids) == 1 else pd.Series(fids).std(), "n_seeds": len(fids)})

    base = row("tuned", [58.0, 55.0, 61.0], [0, 1, 2])
    one_seed = [("x0-l2", row("x0-l2", [21.0], [0]), False), ("v-l2", row("v-l2", [29.0], [0]), False)]
    out = _best_against_baseline(one_seed, base, 0.9)
    assert out["best"] == "x0-l2" and out["gap"] == "37.00"
    assert out["verdict"].startswith("without an interval yet: no cell compared has a second seed")
    assert _best_against_baseline([("x0-l2", row("x0-l2", [21.0], [5]), False)], base, 0.9)["verdict"] == \
        "without an interval yet: the two share no seed"
    three = [("x0-l2", row("x0-l2", [21.0, 20.0, 23.0], [0, 1, 2]), False)]
    assert _best_against_baseline(three, base, 0.9)["verdict"].startswith("an improvement at this budget")


def test_the_best_cell_says_what_it_spends_beside_the_baseline():
    import pandas as pd

    from ddpm_mnist import book

    base = pd.Series({"steps": 702.0, "parameters": 541537.0})
    # batch 32 in the same 3 epochs: 8 times the optimiser steps, which is more budget
    assert book.cost_text(base, pd.Series({"steps": 5625.0, "parameters": 541537.0})) == (
        " It is not the baseline's budget: it takes 5,625 optimiser steps where the baseline takes 702, "
        "and more optimiser steps in the same epochs are more training, as more epochs are.")
    assert book.cost_text(base, pd.Series({"steps": 702.0, "parameters": 2e6})) == (
        " It is not the baseline's budget: it has 2,000,000 parameters where the baseline has 541,537.")
    assert book.cost_text(base, pd.Series({"steps": 87.0, "parameters": 2e6})).endswith(
        "it takes 87 optimiser steps where the baseline takes 702 and has 2,000,000 parameters where the baseline has 541,537.")
    assert book.cost_text(base, base) == "" and book.cost_text(base, pd.Series({"steps": float("nan")})) == ""


def test_a_network_sampled_in_many_ways_counts_once_in_the_seed_noise():
    import pandas as pd

    from ddpm_mnist.book.best import against_baseline, one_per_network

    def row(fids, network=None):
        r = pd.Series({"fids": fids, "seeds": list(range(len(fids)))})
        return r if network is None else pd.concat([r, pd.Series({"network": network})])

    base = row([58.0, 55.0, 61.0])
    calm = row([21.0, 19.0, 23.0])  # its own network: differences 37, 36, 38
    # one wild network (differences 8, 55, 1), sampled by five settings: as many rows, one network's seed noise
    wild = [row([50.0 + k / 10, 0.0 + k / 10, 60.0 + k / 10], "net") for k in range(5)]
    pool = one_per_network([calm, *wild, row([40.0], "net")])
    assert len(pool) == 2 and pool[0] is calm and pool[1] is wild[0]  # the most seeds, the first of a tie
    assert len(one_per_network([calm, row([21.0, 20.0, 22.0])])) == 2  # rows without the entry: each its own
    once = against_baseline(base, calm, [calm, wild[0]], 2, 0.0)
    counted_five_times = against_baseline(base, calm, [calm, row(wild[0]["fids"])] + [row(w["fids"]) for w in wild[1:]], 2, 0.0)
    assert against_baseline(base, calm, [calm, *wild], 2, 0.0) == once
    assert counted_five_times.high - counted_five_times.low > once.high - once.low


def test_the_introductions_glance_links_every_study_to_its_chapter():
    import pandas as pd

    from ddpm_mnist.book.conclusion import glance_markdown

    summary = pd.DataFrame({"study": ["4.3.1 Batch size", "4.1-4.3 Dense, convolutional and U-Net denoisers"],
                            "report's choice": ["256", "unet"], "our best": ["64", "unet"],
                            "verdict": ["contradicted", "confirmed"]}, index=pd.Index(["batch-size", "models"], name="name"))
    lines = glance_markdown(summary).splitlines()
    assert lines[0] == "| study | the report's choice | our best | verdict |" and len(lines) == 4
    assert lines[2] == "| {doc}`4.3.1 Batch size <batch-size>` | 256 | 64 | contradicted |"
    assert lines[3].startswith("| {doc}`4.1-4.3 Dense, convolutional and U-Net denoisers <unet>` |")
