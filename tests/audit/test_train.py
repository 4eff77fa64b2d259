"""The classifier: deterministic training, a faithful save/load, and the
shipped file (small, both variants, every corpus family)."""
import os

import numpy as np

from proteus_py.audit import gnn, train, zoo as Z


def _subset(variant, n=240):
    z = Z.load_zoo()
    graphs, labels, tables = train.training_set(z, variant)
    idx = np.linspace(0, len(graphs) - 1, n).astype(int)
    return [graphs[i] for i in idx], labels[idx], tables


def test_training_is_deterministic_and_learns():
    for variant in train.VARIANTS:
        g, y, tab = _subset(variant)
        assert 0 < y.sum() < len(y)
        a = train.fit(g, y, variant, tab, epochs=3, seed=0)
        b = train.fit(g, y, variant, tab, epochs=3, seed=0)
        pa, pb = a.predict(g), b.predict(g)
        assert np.array_equal(pa, pb), variant
        # it learned something on its own training set
        assert pa[y == 1].mean() > pa[y == 0].mean() + 0.2, variant


def test_save_and_load_keep_the_predictions(tmp_path):
    out = {}
    for variant in train.VARIANTS:
        g, y, tab = _subset(variant, 120)
        out[variant] = (train.fit(g, y, variant, tab, epochs=2, seed=1), g)
    p = str(tmp_path / "c.pt")
    gnn.save_classifiers(p, {v: c for v, (c, _) in out.items()})
    back = gnn.load_classifiers(p)
    for v, (c, g) in out.items():
        assert np.allclose(back[v].predict(g), c.predict(g), atol=2e-2), v


def test_the_shipped_classifier():
    assert os.path.getsize(train.SHIPPED) < 2 * 1024 * 1024
    clfs = gnn.load_classifiers(train.SHIPPED)
    assert set(clfs) == set(train.VARIANTS)
    for v, c in clfs.items():
        assert c.meta["families"] == Z.families(), v
        assert c.meta["excluded"] == []
