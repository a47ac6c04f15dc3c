"""Timed runs: a candidate and the diffusers peer, trained for seconds, sampled, scored, stored."""

import json

import numpy as np

import pytest

from ddpm_mnist.studies.timed import CANDIDATES, candidate, run_candidate, stored, table, timed_path
from ddpm_mnist.train.recipes import START, get_recipe


def test_candidates_are_the_recipe_with_their_changes(monkeypatch):
    monkeypatch.setitem(CANDIDATES, "x0", {"spec": {"loss": "x0-l2"}, "sampling": {"options": {"steps": 20, "eta": 0.0}}})
    spec, opts, sampling = candidate("x0")
    assert spec == {**START.spec, "loss": "x0-l2"} and opts == START.train
    assert sampling == {"sampler": "ddim", "options": {"steps": 20, "eta": 0.0}}
    fast = get_recipe("fast")
    assert candidate("fast") == (fast.spec, fast.train, fast.sampling)  # a recipe, as the benchmark measures it
    with pytest.raises(ValueError, match="the search candidates"):
        candidate("nope")


@pytest.mark.slow
def test_timed_candidate_and_peer_are_scored_stored_and_tabulated(tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    from ddpm_mnist.studies.timed import run_peer

    tiny = {"spec": {"model_options": {"channels": (8, 16, 32), "n_convs": 5}, "T": 60},
            "sampling": {"options": {"steps": 5, "eta": 0.0}}}
    monkeypatch.setitem(CANDIDATES, "tiny", tiny)
    monkeypatch.setitem(CANDIDATES, "tiny, DDIM 3", {**tiny, "sampling": {"options": {"steps": 3, "eta": 0.0}}})
    kw = dict(n_samples=16, results_dir=tmp_path, train_subset=128)
    ours = run_candidate("tiny", 0.02, 0, **kw)
    peer = run_peer(0.02, 0, **kw)
    for r in (ours, peer):
        assert r["train"]["steps"] == r["train"]["time_budget"]["planned_steps"] >= 1
        assert set(r["metrics"]) >= {"fid", "precision", "recall", "kid", "class_kl", "classes_covered"}
        assert r["n_samples"] == 16 and r["sample_time_s"] > 0 and "load_before" in r
    assert json.loads(timed_path(tmp_path, "tiny", 0.02, 0).read_text())["created"] == ours["created"]
    assert run_candidate("tiny", 0.02, 0, **kw)["created"] == ours["created"]  # stored: not recomputed
    network = tmp_path / "timed" / "checkpoints" / f"{ours['train']['network']}.pt"
    assert network.exists()  # kept for the candidates that change only the sampler
    other = run_candidate("tiny, DDIM 3", 0.02, 0, **kw)
    same = ("steps", "images_seen", "time_budget", "network")
    assert {k: other["train"][k] for k in same} == {k: ours["train"][k] for k in same}
    assert other["sampling"]["options"]["steps"] == 3
    monkeypatch.setitem(CANDIDATES, "tiny", {**tiny, "sampling": {"options": {"steps": 4, "eta": 0.0}}})  # the label moves on
    moved = run_candidate("tiny", 0.02, 0, **kw)
    assert moved["sampling"]["options"]["steps"] == 4  # its stored result was stale: computed again
    assert {k: moved["train"][k] for k in same} == {k: ours["train"][k] for k in same}  # same network, sampled again
    monkeypatch.setitem(CANDIDATES, "tiny", tiny)
    assert timed_path(tmp_path, "tiny, DDIM 3", 0.02, 0).name == "tiny--DDIM-3-0.02min-seed0.json"
    from ddpm_mnist.io import LockedError, exclusive

    with exclusive(network.with_suffix(".lock")):  # another lane trains this network: refused at once
        monkeypatch.setitem(CANDIDATES, "tiny, DDIM 2", {**tiny, "sampling": {"options": {"steps": 2, "eta": 0.0}}})
        with pytest.raises(LockedError):
            run_candidate("tiny, DDIM 2", 0.02, 0, **kw, wait=False)
    assert peer["peer"]["parameters"] > 400_000
    conditional = {"spec": {**tiny["spec"], "model_options": {"channels": (8, 16, 32), "n_convs": 5, "num_classes": 10}},
                   "sampling": {"options": {"steps": 3, "eta": 0.0}, "guidance": 1.0}}
    monkeypatch.setitem(CANDIDATES, "tiny, conditional", conditional)
    guided = run_candidate("tiny, conditional", 0.02, 0, **kw)
    assert guided["sampling"]["guidance"] == 1.0 and guided["spec"]["model_options"]["num_classes"] == 10
    assert guided["train"]["network"] != ours["train"]["network"]
    t = table(stored(tmp_path))
    assert sorted(t["method"]) == ["diffusers", "tiny", "tiny, DDIM 3", "tiny, conditional"] and (t["seeds"] == 1).all()


def test_every_search_candidate_is_a_valid_network_protocol_and_sampler():
    import inspect

    from ddpm_mnist.core.sampling import SAMPLERS
    from ddpm_mnist.core.spec import DenoiserSpec
    from ddpm_mnist.train.training import train

    train_args = set(inspect.signature(train).parameters)
    for label in CANDIDATES:
        s, opts, sampling = candidate(label)
        spec = DenoiserSpec(s["model"], s.get("model_options", {}), s["T"], s["schedule"], s["loss"])
        spec.build()
        assert set(opts) <= train_args, label
        assert set(sampling["options"]) <= set(SAMPLERS[sampling["sampler"]].options), label


def test_floor_table_and_paired_differences():
    import pandas as pd

    from ddpm_mnist.studies.timed import floor_table, paired_to

    t = pd.DataFrame([
        {"method": "fast", "seeds": 3, "FID": 5.0, "precision": 0.8, "recall": 0.6, "class KL": 0.005,
         "digits covered (min)": 10, "sampling s / 1,000": 20.0},
        {"method": "diffusers", "seeds": 3, "FID": 25.0, "precision": 0.5, "recall": 0.5, "class KL": 0.1,
         "digits covered (min)": 10, "sampling s / 1,000": 40.0},
    ])
    f = floor_table(t).set_index("floor")
    assert f.loc["FID at most a quarter of diffusers'", "measured"] == pytest.approx(0.2)
    assert f["met"].tolist() == ["yes", "yes", "no", "yes", "yes", "yes"]
    assert (floor_table(t.assign(seeds=1))["met"] == "not yet").all()
    assert (floor_table(t, "nope")["met"] == "not yet").all()
    results = [{"label": label, "seed": seed, "metrics": {"fid": fid}}
               for label, seed, fid in (("start", 0, 10.0), ("start", 1, 14.0), ("x", 0, 7.0), ("x", 1, 13.0), ("y", 5, 1.0))]
    gaps = paired_to(results)
    assert gaps["start"] == 0 and gaps["x"] == pytest.approx(-2.0) and np.isnan(gaps["y"])


def test_budget_spread_compares_networks_of_one_cost():
    from ddpm_mnist.studies.timed import budget_spread

    def r(network, steps, channels=(32, 64, 128), batch=64, seed=0):
        return {"spec": {"model_options": {"channels": channels}}, "options": {"batch_size": batch}, "minutes": 20.0,
                "seed": seed, "train": {"network": network, "steps": steps}}

    assert budget_spread([r("a", 100), r("b", 200, channels=(16, 32, 64)), r("c", 300, seed=1)]) is None
    results = [r("a", 100), r("a", 100), r("b", 110), r("c", 90), r("d", 500, batch=128), {"label": "diffusers"}]
    assert budget_spread(results) == (90, 110, 3)
