"""PNG plots of real vs sentinel distributions of the graph statistics
(like the paper's Figure 5), and of each attack's scores."""
from __future__ import annotations

import os

import numpy as np

from . import features as F

PLOT_STATS = ["avg_degree", "clustering", "diameter", "nodes", "edges", "depth", "width", "max_in", "max_out",
              "inputs", "outputs", "initializers", "components", "sources", "sinks",
              "cat_conv", "cat_matmul", "cat_norm", "cat_activation", "cat_arith", "cat_layout", "cat_reduce",
              "cat_const"]
TITLES = {"avg_degree": "average degree", "clustering": "clustering coefficient", "diameter": "diameter",
          "nodes": "nodes (graph size)", "edges": "edges", "depth": "depth (longest path)"}


def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _hist(ax, real, sent, title):
    allv = np.asarray(real + sent, dtype=np.float64)
    if allv.size == 0:
        return
    lo, hi = float(allv.min()), float(allv.max())
    if hi <= lo:
        hi = lo + 1.0
    discrete = np.all(np.equal(np.mod(allv, 1), 0)) and hi - lo <= 40
    bins = np.arange(lo - 0.5, hi + 1.5, 1.0) if discrete else np.linspace(lo, hi, 25)
    ax.hist(sent, bins=bins, density=True, alpha=0.55, label=f"sentinel ({len(sent)})", color="tab:red")
    ax.hist(real, bins=bins, density=True, alpha=0.55, label=f"real ({len(real)})", color="tab:blue")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)


def plot_bucket(graphs, key, out_dir, scores=None):
    """Writes stat-<name>.png for every statistic, graph-stats.png (all in
    one grid) and, with scores, scores.png.  Returns the paths."""
    plt = _mpl()
    os.makedirs(out_dir, exist_ok=True)
    real_files = set(key.get("real", []))
    sent_files = {s for g in key.get("groups", []) for s in g.get("sentinels", [])}
    stats = {g.file: F.graph_stats(g) for g in graphs}
    paths = []
    for st in PLOT_STATS:
        real = [stats[f][st] for f in stats if f in real_files]
        sent = [stats[f][st] for f in stats if f in sent_files]
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        _hist(ax, real, sent, TITLES.get(st, st))
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = os.path.join(out_dir, f"stat-{st}.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        paths.append(p)
    cols = 5
    rows = (len(PLOT_STATS) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 3.2, rows * 2.4))
    for ax, st in zip(axes.ravel(), PLOT_STATS):
        real = [stats[f][st] for f in stats if f in real_files]
        sent = [stats[f][st] for f in stats if f in sent_files]
        _hist(ax, real, sent, TITLES.get(st, st))
    for ax in axes.ravel()[len(PLOT_STATS):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle("graph statistics: real vs sentinel subgraphs", fontsize=11)
    fig.tight_layout()
    p = os.path.join(out_dir, "graph-stats.png")
    fig.savefig(p, dpi=80)
    plt.close(fig)
    paths.append(p)
    if scores:
        names = list(scores)
        cols = 3
        rows = (len(names) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 3.6, rows * 2.6), squeeze=False)
        for ax, name in zip(axes.ravel(), names):
            sc = scores[name]
            real = [sc[f] for f in sc if f in real_files]
            sent = [sc[f] for f in sc if f in sent_files]
            _hist(ax, real, sent, f"{name} score")
            if real:
                ax.axvline(max(real), color="k", lw=0.8, ls="--")
        for ax in axes.ravel()[len(names):]:
            ax.axis("off")
        axes.ravel()[0].legend(fontsize=7)
        fig.suptitle("attack scores (dashed: threshold = largest real score)", fontsize=11)
        fig.tight_layout()
        p = os.path.join(out_dir, "scores.png")
        fig.savefig(p, dpi=80)
        plt.close(fig)
        paths.append(p)
    return paths
