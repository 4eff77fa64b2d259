"""The markdown of docs/confidentiality.md (report.py runs the audit)."""
from __future__ import annotations

import datetime
import os
import platform

import numpy as np

from . import attacks as A
from . import score as S
from . import train as T
from . import zoo as Z
from .report import EVAL_K, EVAL_SEED, fmt_cand

PASS = 0.9   # issue 11: every attack must leave at least min(10^20, 90% of log10 promise) candidates
FLOOR = 20.0
MAX_CLF_AUC = 0.60
MAX_ORACLE_AUC = 0.65


def floor(n):
    """log10 of the candidates an attack must leave on a bucket of n groups."""
    return min(FLOOR, PASS * S.log10_promise(n, EVAL_K))

# The paper's Figure 6 (PROTEUS, MLSys 2024): family -> (n, random-opcode candidates, PROTEUS candidates), log10
PAPER_FIG6 = {
    "densenet121": ("densenet", 19, 25.12, 21.92), "googlenet": ("googlenet", 11, 0.85, 12.63),
    "inception_v3": ("inception", 19, 3.89, 23.09), "mnasnet1_0": ("mnasnet", 11, 0.0, 13.98),
    "resnet50": ("resnet", 10, 0.0, 10.79), "mobilenet_v2": ("mobilenet", 11, 10.42, 13.89),
    "bert": ("bert", 16, 0.48, 7.14), "roberta": ("roberta", 16, 1.30, 9.19), "xlm": ("xlm", 25, 0.0, 11.48),
}


def _model_order(names):
    def key(n):
        fam = Z.family(n)
        return (fam, 0 if n.endswith("op17") and "-dyn" not in n else (1 if n.endswith("op13") else 2))
    return sorted(names, key=key)


def _f3(x):
    return "-" if x is None else f"{x:.3f}"


def _bold(x, limit):
    return _f3(x) if x is None or x <= limit else f"**{x:.3f}**"


# attacks with variants, shown as one column: the stronger variant
FAMILIES = {"medoid": ("medoid-centre", "medoid-far"),
            "donor": ("donor-density", "donor-centre", "donor-parent", "donor-rows",
                      "donor-kernels")}
_VARIANT = {v: f for f, vs in FAMILIES.items() for v in vs}


def attack_names(results):
    """Attack columns present in the results, in ATTACKS order, each family
    of variants (medoid, donor) as one column."""
    have = set()
    for r in results.values():
        have |= set(r)
    out = []
    for a in A.ATTACK_NAMES:
        if a in have:
            name = _VARIANT.get(a, a)
            if name not in out:
                out.append(name)
    if "medoid" in out and "gnn-paper" in out:   # beside the classifiers, as before
        out.remove("medoid")
        out.insert(out.index("gnn-paper"), "medoid")
    return out


def cell(r, a):
    """log10 candidates of attack a (a family: its stronger variant that
    ran; None where the attack did not run on that bucket)."""
    if a in FAMILIES:
        v = [r[x]["log10_candidates"] for x in FAMILIES[a] if x in r]
        return min(v) if v else None
    return r[a]["log10_candidates"] if a in r else None


def _cells(r, an):
    return [v for v in (cell(r, a) for a in an) if v is not None]


def attack_table(w, run, names, title):
    res, extra = run["results"], run["extra"]
    an = attack_names(res)
    w(title)
    w("")
    w(f"log10 of the candidates each attack leaves (k = {EVAL_K}); `promise` = n log10(k+1), what the bucket claims; "
      f"a cell in **bold** is below the floor min(20, {int(PASS * 100)}% of the promise) of issue 11. 0.00 means the attack names every real subgraph. `medoid` = the stronger of "
      "medoid-centre and medoid-far, `donor` = the strongest of donor-density, -centre, -parent, -rows and -kernels (choosing it uses "
      "the key). AUC = ROC-AUC of the learned classifier on the "
      f"bucket (sentinels vs reals), bold above {MAX_CLF_AUC:.2f}; oracle = the cross-validated two-sample test on the "
      f"bucket's own files, bold above {MAX_ORACLE_AUC:.2f}.")
    w("")
    w("| model | n | promise | " + " | ".join(an) + " | gnn-paper AUC | gnn-full AUC | oracle AUC |")
    w("|---|---:|---:|" + "---:|" * (len(an) + 3))
    for m in names:
        if m not in res:
            continue
        r = res[m]
        n = r[an[0]]["n"]
        p = S.log10_promise(n, EVAL_K)
        cells = []
        for a in an:
            v = cell(r, a)
            cells.append("-" if v is None else (f"**{v:.2f}**" if v < floor(n) else f"{v:.2f}"))
        o = extra.get(m, {}).get("oracle")
        w(f"| {m} | {n} | {p:.1f} | " + " | ".join(cells) + f" | {_bold(r.get('gnn-paper', {}).get('auc'), MAX_CLF_AUC)} | "
          f"{_bold(r.get('gnn-full', {}).get('auc'), MAX_CLF_AUC)} | {_bold(o['auc'] if o else None, MAX_ORACLE_AUC)} |")
    w("")
    ms = [m for m in names if m in res]
    ran = {a: [m for m in ms if cell(res[m], a) is not None] for a in an}
    held = {a: sum(1 for m in ran[a] if cell(res[m], a) >= floor(res[m][an[0]]["n"])) for a in an}
    w("Buckets an attack leaves at or above the floor: " + ", ".join(f"{a} {held[a]}/{len(ran[a])}" for a in an) + "."
      + (" `-`: the optimizer attack runs ONNX Runtime on every file and was run on buckets of at most "
         "`--optimizer-max-files` files." if any(len(ran[a]) < len(ms) for a in an) else ""))
    allheld = sum(1 for m in ms if all(v >= floor(res[m][an[0]]["n"]) for v in _cells(res[m], an)))
    w(f"Buckets that every attack leaves at or above the floor: {allheld}/{len(ms)}.")
    ora = [extra[m]["oracle"]["auc"] for m in ms if extra.get(m, {}).get("oracle")]
    if ora:
        w(f"Oracle AUC: median {np.median(ora):.3f}, min {min(ora):.3f}, max {max(ora):.3f}.")
    w("")


def ort_section(w, runs):
    rows = [(g, r["ort_agreement"]) for g, r in runs.items() if r.get("ort_agreement")]
    if not rows:
        return
    w("## The optimizer's view: reals and sentinels under `ort:all`")
    w("")
    w("Every file of the corpus buckets above through ONNX Runtime at `ORT_ENABLE_ALL` (`ort_probe.py`; weightless files "
      "get seeded random weights). Issue 11 asks that the fraction of files the optimizer changes agree within 10 "
      "points between reals and sentinels and that a two-sample test not separate their node-count ratios. Per model, "
      "and which op types part the two sides: `python -m proteus_py.audit.ort_agreement MODEL... --ops 16`.")
    w("")
    w("| generator | reals | sentinels | reals changed | sentinels changed | mean ratio after/before, reals | sentinels | "
      "KS D | KS p | refused (reals / sentinels) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for g, a in rows:
        w(f"| {g} | {a['real_files']} | {a['sentinel_files']} | {100 * a['real_changed']:.1f}% | "
          f"{100 * a['sentinel_changed']:.1f}% | {a['real_ratio']:.3f} | {a['sentinel_ratio']:.3f} | {a['ks_d']:.3f} | "
          f"{a['ks_p']:.2g} | {a['real_errors']} / {a['sentinel_errors']} |")
    w("")


def figure6(w, run, names, variant, title):
    res = run["results"]
    w(title)
    w("")
    w("| model | n | k | specificity | min(γ) | candidates | promise |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    below = 0
    ms = [m for m in names if m in res and variant in res[m]]
    for m in ms:
        r = res[m][variant]
        n = r["n"]
        below += r["log10_candidates"] < 3
        w(f"| {m} | {n} | {EVAL_K} | {r['specificity']:.3f} | {r['threshold']:.3g} | {fmt_cand(r['log10_candidates'])} | "
          f"{fmt_cand(S.log10_promise(n, EVAL_K))} |")
    w("")
    w(f"{below} of {len(ms)} buckets are left with fewer than 10^3 candidates.")
    w("")


def paper_table(w, runs, gen):
    main, base = runs[gen], runs.get("random")
    rows = [m for m in _model_order(list(main["results"])) if Z.family(m) in PAPER_FIG6
            and m.endswith("-op17") and "-dyn" not in m]
    if not rows:
        return
    w("## Beside the paper's Figure 6")
    w("")
    w("log10 candidates left by the paper's classifier (`gnn-paper`) and by the strongest attack here, op17 buckets; "
      "the paper's own numbers (its n, its partitioning) for comparison.")
    w("")
    w(f"| model | paper n | paper random | paper PROTEUS | n | random: gnn-paper | random: strongest | {gen}: gnn-paper | "
      f"{gen}: strongest | {gen}: promise |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in rows:
        pn, pnn, pr, pp = PAPER_FIG6[Z.family(m)]
        r = main["results"][m]
        an = attack_names({m: r})
        b = base["results"].get(m) if base else None
        bst = f"{min(_cells(b, attack_names({m: b}))):.2f}" if b else "-"
        bgp = f"{b['gnn-paper']['log10_candidates']:.2f}" if b else "-"
        w(f"| {m} | {pnn} | {pr:.2f} | {pp:.2f} | {r['gnn-paper']['n']} | {bgp} | {bst} | "
          f"{r['gnn-paper']['log10_candidates']:.2f} | {min(_cells(r, an)):.2f} | "
          f"{S.log10_promise(r['gnn-paper']['n'], EVAL_K):.1f} |")
    w("")


def markdown(runs, control, holdout, times, args, big=None):
    L = []
    w = L.append
    gen = args.sentinels
    main = runs[gen]
    names = _model_order(list(main["results"]))
    corpus = [m for m in names if m not in main["realworld"]]
    w("# Confidentiality audit")
    w("")
    w("How far each attack of the threat model ([threat-model.md](threat-model.md), classes 1-11; class 12, several buckets, is `proteus audit --link`) shrinks the "
      f"search space of a bucket at k = {EVAL_K}, with the sentinel generator `--sentinels {gen}`"
      + (" (what `proteus obfuscate` uses by default)" if gen == Z.default_sentinels() else "")
      + (", beside the random generator (the paper's *random opcodes* baseline)" if "random" in runs and gen != "random" else "")
      + f". Generated by `scripts/confidentiality` on {datetime.date.today().isoformat()}; do not edit its sections by "
      "hand (sections it does not write are kept, at the end).")
    w("")
    scope = []
    if args.only:
        scope.append(f"**Subset run**: only the families {', '.join(args.only)}"
                     + (" (op17 files only)" if args.op17_only else "")
                     + (f" and the real-world models {', '.join(main['realworld'])}" if main["realworld"]
                        else ", no real-world model") + ", not every corpus model "
                       "(the full run did not fit the time this regeneration had).")
    if scope:
        w(" ".join(scope))
        w("")
    w("## How it is measured")
    w("")
    w(f"- **Owner's buckets**: `proteus obfuscate MODEL -k {EVAL_K} --sentinels GEN --seed {EVAL_SEED} --no-probe` "
      "(default subgraph size), for the corpus models (op17, op13, dyn) and real-world models held out of the shipped "
      "generator (`build/realworld`, `corpus/realworld/fetch.py`).")
    if main["generators"]:
        w(f"- **Learned generator, leave-family-out**: the owner's buckets and the attacker's zoo are made with a "
          f"generator model trained like `data/generator/default.pxg` (`proteus train-generator "
          f"{' '.join(Z.GENERATOR_INPUTS)}`) but with `--exclude-family` for every audited family of its chunk "
          "and for the real-world models, so the generator never saw the model it hides: "
          + "; ".join(f"chunk {', '.join(c)}" for c, _ in main["generators"])
          + (f" (also left out: {', '.join(args.gen_also_without)})" if args.gen_also_without else "")
          + ". The attacker's zoo for a chunk holds the corpus families that chunk's generator saw"
          + (f" (except {', '.join(args.zoo_skip)}, skipped for time)" if args.zoo_skip else "") + ". "
          "Cached under `build/audit-cache`.")
    w(f"- **Attacker's zoo** (the public models, here the corpus): each corpus model obfuscated by the attacker himself "
      f"with his own seed ({Z.TRAIN_SEED}) and key, with the same generator, so he knows which of his files are real: "
      f"`-k {Z.TRAIN_K}` on every corpus file for the random generator; `-k {Z.LEARNED_ZOO_K}` on the op17 file of each "
      "family for the learned one (it costs about 0.4 s a sentinel on an idle core, and this machine was shared). Attacks learn reference distributions from it; the audited model's whole family is left out "
      "(`--zoo-exclude`), as if the model were private. Real-world models are audited with the whole zoo.")
    w(f"- **Learned classifiers**, retrained per generator: leave-one-family-out (a family = the file name minus "
      "`-opNN`/`-dyn`): trained on the real subgraphs of the other families of that generator's zoo against "
      f"min({T.TRAIN_SENTINELS}, zoo k) of their sentinels per real subgraph, class-weighted, tested on "
      "the held-out family's buckets; real-world models: trained on every family. GraphSAGE, mean aggregation, 3 layers "
      "of 128, mean pooling. `gnn-paper`: one-hot op types, undirected (the paper). `gnn-full`: also directed in/out "
      "neighbourhoods, output dtype/rank/shape, attributes, initializer shapes and statistics, small constants, zoo "
      "frequency tables (cross-fitted by family), graph-level facts.")
    w("- **Score**: every attack scores each file (higher = more sentinel-like). The threshold is the largest score of any "
      "real file (no real subgraph is ever rejected); a sentinel is eliminated when strictly above it. "
      "specificity_i = eliminated fraction of group i's sentinels; candidates = prod_i (1 + (1 - spec_i) k). "
      f"The bucket promises (k+1)^n, i.e. log10 = n log10({EVAL_K + 1}).")
    w("- **Oracle two-sample test** (`oracle.py`): not an attack, an upper bound. On each bucket, with its key, a "
      "cross-validated classifier (5 folds over groups; naive Bayes and L2 logistic regression on every per-file "
      "feature the attacks compute, the larger AUC) separates the bucket's own reals from its own sentinels. "
      "0.5 = indistinguishable by those features.")
    w("")
    attack_table(w, main, names, f"## Every attack, `--sentinels {gen}`")
    if "random" in runs and gen != "random":
        attack_table(w, runs["random"], names, "## Every attack, `--sentinels random` (baseline)")
    ort_section(w, runs)
    paper_table(w, runs, gen)
    for variant in ("gnn-paper", "gnn-full"):
        figure6(w, main, names, variant, f"## Figure 6: learned classifier `{variant}`, `--sentinels {gen}`")
    if "random" in runs and gen != "random":
        figure6(w, runs["random"], names, "gnn-paper", "## Figure 6: learned classifier `gnn-paper`, random-opcode sentinels")
    control_section(w, corpus, control)
    if holdout:
        w(f"## Held-out models (`corpus/holdout`), shipped classifier, whole zoo, `--sentinels {gen}`")
        w("")
        w("What `proteus audit` reports for models outside the corpus: the shipped classifier "
          "(`python/proteus_py/audit/models/classifier.pt`, trained on every corpus family) and the whole zoo.")
        w("")
        attack_table(w, {"results": {m: v[0] for m, v in holdout.items()}, "extra": {m: v[1] for m, v in holdout.items()}},
                     sorted(holdout), "")
    w("## The attacks")
    w("")
    for line in ATTACK_DOC:
        w(line)
    w("")
    runtimes(w, times, big)
    if args.extra_notes and os.path.exists(args.extra_notes):
        with open(args.extra_notes) as f:
            w(f.read().rstrip())
        w("")
    return "\n".join(L) + "\n"


def keep_hand_written(md, old):
    """The sections of the old file (## headings) this generator does not
    write (other tools' measurements, written by hand), appended to md."""
    titles = {line for line in md.splitlines() if line.startswith("## ")}
    keep, cur = [], None
    for line in old.splitlines():
        if line.startswith("## "):
            cur = line not in titles
        if cur:
            keep.append(line)
    return md if not keep else md.rstrip("\n") + "\n\n" + "\n".join(keep).rstrip("\n") + "\n"


def control_section(w, names, control):
    w("## Control: real subgraphs against real subgraphs of other models")
    w("")
    w("For each corpus model, its real subgraphs (label real) against real subgraphs of *other* corpus models with the "
      "same interface (dtype and shape of every input and output), as if they were its sentinels, scored by the "
      "classifier of the model's own fold (audited generator). A ROC-AUC near 0.5 means the classifier does not flag "
      "'a subgraph of another model' as a sentinel; it finds sentinels. `held-out` uses real subgraphs of "
      "`corpus/holdout` models, which no classifier saw. Models without any same-interface subgraph elsewhere are left out.")
    w("")
    w("| model | n | matched | substitutes | gnn-paper AUC | gnn-full AUC | held-out subst. | gnn-paper AUC (held-out) | gnn-full AUC (held-out) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in names:
        c = control.get(m)
        if not c or (c["substitutes"] == 0 and c["holdout_substitutes"] == 0):
            continue
        w(f"| {m} | {c['n']} | {c['matched']} | {c['substitutes']} | {_f3(c['gnn-paper']['auc'])} | {_f3(c['gnn-full']['auc'])} | "
          f"{c['holdout_substitutes']} | {_f3(c['gnn-paper']['auc_holdout'])} | {_f3(c['gnn-full']['auc_holdout'])} |")
    w("")
    for v in ("gnn-paper", "gnn-full"):
        num = den = hnum = hden = 0.0
        for m in names:
            c = control.get(m)
            if not c:
                continue
            sub, neg, hsub, hneg = c[v]["pairs"]
            if c[v]["auc"] is not None:
                num += c[v]["auc"] * len(sub) * len(neg)
                den += len(sub) * len(neg)
            if c[v]["auc_holdout"] is not None:
                hnum += c[v]["auc_holdout"] * len(hsub) * len(hneg)
                hden += len(hsub) * len(hneg)
        if den or hden:
            w(f"- `{v}`: pair-weighted AUC " + (f"**{num / den:.3f}** over {int(den)} pairs" if den else "-")
              + (f"; held-out substitutes {hnum / hden:.3f} over {int(hden)} pairs" if hden else "") + ".")
    w("")


def runtimes(w, times, big):
    w("## Commands and runtimes")
    w("")
    w("```sh")
    w("scripts/confidentiality                 # this file (builds build/proteus if needed)")
    w("scripts/confidentiality --only resnet50 bert --op17-only --no-holdout --no-resnet50 --out /tmp/c.md   # a subset")
    w("scripts/confidentiality --train-shipped  # also retrain the shipped classifier (random + learned sentinels)")
    w("build/proteus audit BUCKET --key KEY [--json] [--out DIR] [--zoo-exclude FAMILY]")
    w("/usr/bin/python3 -m pytest tests/audit")
    w("```")
    w("")
    w(f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work), run under `nice`, torch on one "
      "thread. Caches in `build/audit-cache/` (keyed by a hash of the proteus binary and the generator model).")
    w("")
    w("This run started with " + ("an empty cache." if times.get("_cold") else "a partly warm cache (parsed buckets, "
      "fold classifiers or ONNX Runtime probes of an earlier run reused where their inputs were unchanged)."))
    w("")
    w("| phase | seconds |")
    w("|---|---:|")
    for k, v in times.items():
        if not k.startswith("_"):
            w(f"| {k} | {v:.0f} |")
    w("")
    if big:
        w(f"**`proteus audit` on a rehydrated ResNet-50 bucket** (`proteus rehydrate`, then `-k {big['k']}`): "
          f"{big['files']} files, {big['bytes'] / 1e9:.2f} GB, n = {big['n']}; the audit took **{big['audit_s']:.0f} s**. "
          f"Per attack, log10 candidates (of {big['promise']:.1f}) and seconds: " +
          ", ".join(f"{n} {v[0]:.2f} ({v[1]:.0f} s)" for n, v in big["attacks"].items()) + ".")
        w("")


ATTACK_DOC = [
    "Each attack reads only the bucket files, the attacker's zoo and the proteus source. Code: "
    "`python/proteus_py/audit/attacks.py` and the modules named.",
    "",
    "| attack | class | what it does |",
    "|---|---:|---|",
    "| graph-stats | 2 | naive-Bayes density ratio p(sentinel)/p(real) of 36 graph statistics, learned from the zoo |",
    "| stitching | 3 | links of a file's interface to the rest of the bucket (groups that can feed or take it, shared "
    "tensor names); fewer links = more sentinel-like |",
    "| validity | 4 | hard violations (checker, strict shape inference, type mismatches ...) + facts no zoo real shows |",
    "| weights | 5 | naive Bayes over initializer and constant facts (and weight statistics when the bucket has weights) |",
    "| metadata | 6 | naive Bayes over names, producer/opset, orders, value_info, file size/time/name, manifest position |",
    "| repetition | 7 | naive Bayes over WL similarity to other groups' files, duplicates, similarity within the group |",
    "| zoo-match | 8 | nearest-neighbour WL similarity to the zoo's sentinels minus that to its reals |",
    "| gnn-paper | 1 | GraphSAGE on one-hot op types (the paper's classifier) |",
    "| gnn-full | 1 | GraphSAGE on everything in the file |",
    "| medoid (-centre, -far) | 10 | `typicality.py`: rank of a file's mean distance to the rest of its interface group, "
    "averaged over WL-subtree cosine (with and without shapes), graph-statistic distance (scaled within the group) and "
    "op-histogram cosine; -centre keeps the medoid, -far keeps the outlier; the table shows the stronger |",
    "| donor (-density, -centre, -parent, -rows, -kernels) | 5 | `donor.py`, within the bucket, no training: per tensor role, the "
    "shape of each tensor's value distribution (31 standardized quantiles) and of its row scales; -density: a file "
    "whose tensors sit in a crowd of similar ones (one recipe), -centre: a tensor its neighbours surround (a donor), "
    "-parent: a matrix whose row-scale profile has a near twin at least as large in another file (drawn from it), "
    "-rows: a matrix whose rows (scale, quantiles, tap energy) find near-identical rows in such a twin, -kernels: a "
    "kernel tensor whose kernels' nearest kernels in a larger one vote for one channel per channel (a copy); the "
    "table shows the strongest |",
    "| style | 11 | `style.py`: style tokens (activations, norms, kernel sizes, strides, depthwise or not, weight channel "
    "counts, dtypes, op set); a file's consistency = mean log-frequency of its tokens among the other groups' files, "
    "those weighted by their own consistency (3 rounds); least consistent = most sentinel-like |",
    "| chain | 11 | `style.py`: groups chained by exact interface (an output's dtype and shape is another group's input); at "
    "each seam, a file's best partner among the neighbouring group's most consistent files, scored by the zoo frequency "
    "of the producer->consumer op pair across the seam plus style overlap; worst fit = most sentinel-like |",
    "| optimizer | 9 | `optimizer.py`, `ort_probe.py`: ONNX Runtime `ORT_ENABLE_ALL` on each file (missing weights "
    "filled with seeded random values): node-count change, fused op types introduced, domains, session-creation and "
    "run time per node, refusals; naive Bayes learned from a sample of the zoo (4 groups per model, real + 1 sentinel) |",
]
