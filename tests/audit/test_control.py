"""The control for false alarms: real subgraphs of one model against real
subgraphs of another model with the same interface.  A classifier that
finds sentinels (not 'another model') scores them alike: ROC-AUC near 0.5.
Both families are left out of training, so neither was seen."""
import os

import pytest

from conftest import MODELS
from proteus_py.audit import features as F
from proteus_py.audit import score as S, train, zoo as Z


@pytest.fixture(scope="module")
def fold():
    return train.train_all(Z.load_zoo(exclude=["bert", "roberta"]))


def test_real_vs_real_of_another_model_is_a_coin_toss(make_bucket, fold):
    b1, _, v1 = make_bucket(os.path.join(MODELS, "bert-op17.onnx"), 0, seed=21)
    b2, _, v2 = make_bucket(os.path.join(MODELS, "roberta-op17.onnx"), 0, seed=22)
    g1 = F.read_bucket(b1)
    g2 = F.read_bucket(b2)
    ifaces = {g.interface for g in g1} & {g.interface for g in g2}
    own = [g for g in g1 if g.interface in ifaces]
    other = [g for g in g2 if g.interface in ifaces]
    assert len(own) >= 10 and len(other) >= 10, "bert and roberta share interfaces"
    for variant, clf in fold.items():
        s_own = train.score_bucket(clf, own)
        s_other = train.score_bucket(clf, other)
        auc = S.roc_auc(list(s_other.values()), list(s_own.values()))
        assert 0.3 <= auc <= 0.7, (variant, auc)


def test_the_same_classifier_separates_real_from_sentinels(make_bucket, fold):
    """Same fold, same model: against its sentinels the AUC is high, so the
    coin toss above is not a classifier that cannot tell anything."""
    b, _, view = make_bucket(os.path.join(MODELS, "bert-op17.onnx"), 3, seed=23)
    graphs = F.read_bucket(b)
    real = set(view["real"])
    for variant, clf in fold.items():
        sc = train.score_bucket(clf, graphs)
        auc = S.roc_auc([v for f, v in sc.items() if f not in real], [v for f, v in sc.items() if f in real])
        assert auc > 0.95, (variant, auc)
