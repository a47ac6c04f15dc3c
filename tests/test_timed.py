"""Timed runs: a candidate and the diffusers peer, trained for seconds, sampled, scored, stored."""

import json

import pytest

from ddpm_mnist.studies.timed import CANDIDATES, candidate, run_candidate, stored, table, timed_path
from ddpm_mnist.train.recipes import get_recipe


def test_candidates_are_the_recipe_with_their_changes(monkeypatch):
    monkeypatch.setitem(CANDIDATES, "x0", {"spec": {"loss": "x0-l2"}, "sampling": {"options": {"steps": 20, "eta": 0.0}}})
    spec, opts, sampling = candidate("x0")
    fast = get_recipe("fast")
    assert spec == {**fast.spec, "loss": "x0-l2"} and opts == fast.train
    assert sampling == {"sampler": "ddim", "options": {"steps": 20, "eta": 0.0}}
    with pytest.raises(ValueError, match="valid candidates"):
        candidate("nope")


@pytest.mark.slow
def test_timed_candidate_and_peer_are_scored_stored_and_tabulated(tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    from ddpm_mnist.studies.timed import run_peer

    monkeypatch.setitem(CANDIDATES, "tiny", {"spec": {"model_options": {"channels": (8, 16, 32), "n_convs": 5}, "T": 60},
                                             "sampling": {"options": {"steps": 5, "eta": 0.0}}})
    kw = dict(n_samples=16, results_dir=tmp_path, train_subset=128)
    ours = run_candidate("tiny", 0.02, 0, **kw)
    peer = run_peer(0.02, 0, **kw)
    for r in (ours, peer):
        assert r["train"]["steps"] == r["train"]["time_budget"]["planned_steps"] >= 1
        assert set(r["metrics"]) >= {"fid", "precision", "recall", "kid", "class_kl", "classes_covered"}
        assert r["n_samples"] == 16 and r["sample_time_s"] > 0 and "load_before" in r
    assert json.loads(timed_path(tmp_path, "tiny", 0.02, 0).read_text())["created"] == ours["created"]
    assert run_candidate("tiny", 0.02, 0, **kw)["created"] == ours["created"]  # stored: not recomputed
    assert not (tmp_path / "timed" / "checkpoints" / "tiny-0.02min-seed0.pt").exists()
    assert peer["peer"]["parameters"] > 400_000
    t = table(stored(tmp_path))
    assert list(t["method"]) == ["diffusers", "tiny"] and (t["seeds"] == 1).all()
