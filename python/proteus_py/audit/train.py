"""Training the learned classifier: on the real subgraphs of zoo models
against the sentinels proteus generates for them (the attacker's own
buckets), class-weighted, deterministic (fixed seeds, one thread)."""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from . import gnn
from . import zoo as Z

VARIANTS = ("gnn-paper", "gnn-full")
EPOCHS = 12
BATCH = 128
TRAIN_SENTINELS = 3   # sentinels per real subgraph used for training (of the zoo's TRAIN_K)
LR = 2e-3
MIN_EPOCHS = 4
STOP_LOSS = 1e-3      # stop early once the class-weighted training loss is below this
MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


SHIPPED = os.path.join(MODELS_DIR, "classifier.pt")


def training_set(zoo, variant):
    """Featurized graphs and labels (1 = sentinel) of every labelled file of
    the zoo, plus the tables (all zoo families) the classifier keeps for
    featurizing new files."""
    tables = gnn.Tables.from_reals(zoo.reals()) if variant == "gnn-full" else None
    graphs, labels, fams = [], [], []
    for b in zoo.buckets:
        tv = tables.view({b.family}) if tables else None   # cross-fitting
        keep = set()
        for grp in b.key["groups"]:
            keep.add(grp["real"])
            keep.update(grp["sentinels"][:TRAIN_SENTINELS])
        for g in b.graphs:
            lab = b.label.get(g.file)
            if lab is None or g.file not in keep:
                continue
            graphs.append(gnn.featurize(g, variant, tv))
            labels.append(lab)
            fams.append(b.family)
    return graphs, np.asarray(labels, dtype=np.float32), (tables.view(()) if tables else {})


def _norm(graphs):
    dense = np.concatenate([g.dense for g in graphs], axis=0)
    gf = np.stack([g.gfeat for g in graphs], axis=0)

    def ms(a):
        if a.shape[1] == 0:
            return torch.zeros(0), torch.ones(0)
        m = a.mean(axis=0)
        s = a.std(axis=0)
        s[s < 1e-6] = 1.0
        return torch.from_numpy(m.astype(np.float32)), torch.from_numpy(s.astype(np.float32))

    return ms(dense), ms(gf)


def fit(graphs, labels, variant, tables, epochs=EPOCHS, seed=0, log=None, meta=None):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    directed = variant == "gnn-full"
    norm = _norm(graphs)
    d_dense = graphs[0].dense.shape[1]
    d_graph = graphs[0].gfeat.shape[0]
    model = gnn.SAGE(len(gnn.op_vocab()) + 1, d_dense, d_graph, directed)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=1e-5)
    y = torch.from_numpy(labels)
    npos = float(labels.sum())
    nneg = float(len(labels) - npos)
    # class weights: each class weighs as much as the other in the loss
    w = torch.where(y > 0.5, torch.tensor(len(labels) / (2 * max(npos, 1))), torch.tensor(len(labels) / (2 * max(nneg, 1))))
    gen = torch.Generator().manual_seed(seed)
    # batches are fixed once (order shuffled per epoch): collation is the slow part
    perm = torch.randperm(len(graphs), generator=gen).numpy()
    batches = []
    for i in range(0, len(perm), BATCH):
        idx = perm[i:i + BATCH]
        batches.append((gnn.Batch([graphs[j] for j in idx], directed, norm), y[idx], w[idx]))
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        tot = 0.0
        for bi in torch.randperm(len(batches), generator=gen).tolist():
            b, yy, ww = batches[bi]
            opt.zero_grad()
            loss = (lossf(model(b), yy) * ww).mean()
            loss.backward()
            opt.step()
            tot += float(loss) * len(yy)
        done = ep + 1 >= MIN_EPOCHS and tot / len(graphs) < STOP_LOSS
        if log and (ep == epochs - 1 or ep % 5 == 0 or done):
            log(f"  {variant} epoch {ep + 1}/{epochs} loss {tot / len(graphs):.4f} ({time.time() - t0:.0f} s)")
        if done:   # the training set is separated: more epochs change nothing but time
            break
    model.eval()
    return gnn.Classifier(variant, model, norm, tables, meta)


def train_on(zoo, variant, epochs=EPOCHS, seed=0, log=None):
    graphs, labels, tables = training_set(zoo, variant)
    meta = {"families": zoo.families(), "excluded": zoo.excluded, "n_real": int((labels == 0).sum()),
            "n_sentinel": int((labels == 1).sum()), "epochs": epochs, "seed": seed,
            "generator": Z.SENTINELS, "train_k": Z.TRAIN_K, "train_seed": Z.TRAIN_SEED}
    if log:
        log(f"training {variant} on {len(graphs)} files ({meta['n_real']} real, {meta['n_sentinel']} sentinel), "
            f"families left out: {', '.join(zoo.excluded) or 'none'}")
    return fit(graphs, labels, variant, tables, epochs=epochs, seed=seed, log=log, meta=meta)


def train_all(zoo, epochs=EPOCHS, log=None):
    return {v: train_on(zoo, v, epochs=epochs, log=log) for v in VARIANTS}


def train_shipped(path=None, log=None, epochs=EPOCHS):
    """Retrains the classifiers on every corpus family and saves them (both
    variants, one file)."""
    path = path or SHIPPED
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    clfs = train_all(Z.load_zoo(log=log), epochs=epochs, log=log)
    gnn.save_classifiers(path, clfs)
    return path


def score_bucket(clf, graphs):
    """{file: sentinel probability}."""
    feats = [clf.featurize(g) for g in graphs]
    probs = clf.predict(feats)
    return {g.file: float(p) for g, p in zip(graphs, probs)}
