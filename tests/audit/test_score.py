"""The scoring rule (paper Section 5.3.2): threshold = largest real score,
strictly-above eliminates, log10 candidates = sum log10(1 + (1-spec_i) k)."""
import math

import pytest

from proteus_py.audit import score as S


def view(groups, k):
    return {"n": len(groups), "k": k, "real": [r for r, _ in groups],
            "files": [f for r, s in groups for f in [r, *s]],
            "groups": [{"real": r, "sentinels": list(s)} for r, s in groups]}


def test_k0_is_zero_whatever_the_scores():
    key = view([("a", []), ("b", []), ("c", [])], 0)
    for sc in ({"a": 0.0, "b": 1.0, "c": -5.0}, {"a": 3.0, "b": 3.0, "c": 3.0}):
        r = S.evaluate(sc, key)
        assert r["log10_candidates"] == 0.0
        assert r["threshold"] == max(sc.values())
    assert S.log10_promise(3, 0) == 0.0


def test_perfect_separation_leaves_one_candidate_per_group():
    groups = [(f"r{i}", [f"s{i}_{j}" for j in range(20)]) for i in range(7)]
    sc = {f"r{i}": 0.1 * i for i in range(7)}
    sc.update({s: 5.0 + j for _, ss in groups for j, s in enumerate(ss)})
    r = S.evaluate(sc, view(groups, 20))
    assert r["log10_candidates"] == 0.0
    assert r["specificity"] == 1.0
    assert r["threshold"] == pytest.approx(0.6)


def test_no_separation_keeps_the_promise():
    groups = [(f"r{i}", [f"s{i}_{j}" for j in range(5)]) for i in range(4)]
    sc = {f: 0.5 for r, ss in groups for f in [r, *ss]}     # all tied: nothing strictly above
    r = S.evaluate(sc, view(groups, 5))
    assert r["log10_candidates"] == pytest.approx(S.log10_promise(4, 5))
    assert r["specificity"] == 0.0


def test_ties_at_the_threshold_are_kept_and_one_bad_real_sets_it():
    groups = [("r0", ["a", "b", "c", "d"]), ("r1", ["e", "f", "g", "h"])]
    sc = {"r0": 0.2, "r1": 0.9,                       # r1 looks sentinel-like: threshold 0.9
          "a": 0.95, "b": 0.9, "c": 1.0, "d": 0.1,    # a, c eliminated; b ties (kept); d kept
          "e": 0.91, "f": 0.92, "g": 0.93, "h": 0.94}  # all eliminated
    r = S.evaluate(sc, view(groups, 4))
    assert r["threshold"] == 0.9
    assert r["specificities"] == [0.5, 1.0]
    assert r["log10_candidates"] == pytest.approx(math.log10(1 + 0.5 * 4) + math.log10(1))
    assert r["specificity"] == pytest.approx(0.75)


def test_scores_that_favour_sentinels_give_nothing():
    groups = [("r", ["s1", "s2"])]
    r = S.evaluate({"r": 1.0, "s1": 0.0, "s2": 0.5}, view(groups, 2))
    assert r["log10_candidates"] == pytest.approx(math.log10(3))


def test_missing_or_nan_score_is_an_error():
    groups = [("r", ["s1"])]
    with pytest.raises(KeyError):
        S.evaluate({"r": 0.0}, view(groups, 1))
    with pytest.raises(ValueError):
        S.evaluate({"r": 0.0, "s1": float("nan")}, view(groups, 1))


def test_roc_auc():
    assert S.roc_auc([2, 3], [0, 1]) == 1.0
    assert S.roc_auc([0, 1], [2, 3]) == 0.0
    assert S.roc_auc([1, 1], [1, 1]) == 0.5
    assert S.roc_auc([1, 3], [2]) == 0.5
    assert S.roc_auc([], [1]) is None


def test_key_view_from_a_key_file():
    from proteus_py.audit import zoo
    key = {"format": "proteus-key/1", "k": 2, "files": ["a", "b", "c", "d", "e", "f"],
           "parts": [{"file": "a", "sentinels": ["b", "c"]}, {"file": "d", "sentinels": ["e", "f"]}]}
    v = zoo.key_view(key)
    assert v["n"] == 2 and v["k"] == 2 and v["real"] == ["a", "d"]
    assert v["groups"][1] == {"real": "d", "sentinels": ["e", "f"]}
    assert zoo.family("resnet18-dyn-op17.onnx") == "resnet18"
    assert zoo.family("mobilenet_v3_large-op13") == "mobilenet_v3_large"
