"""proteus train-generator DIR... -o FILE [--exclude-family F]... [--seeds N]

Counts, over every real subgraph of the models in DIR... (cut as obfuscate
cuts them, for --seeds partition seeds), how real ONNX structure is built,
and writes the counts as a .pxg text file (format in docs: see FORMAT below).
The counts are the model: the C sampler turns them into probabilities (with
add-one smoothing over the ops it can build), so the file stays readable,
diffable and small.
"""
import argparse
import collections
import hashlib
import os
import sys

from . import harvest, motifs

FORMAT = """\
# Every line after the header is: KIND KEY... COUNT (counts over real subgraphs)
#   size N C           C subgraphs had N nodes
#   next PREV OP C     a node OP whose first activation input PREV produced
#                      (^: a subgraph input)
#   operand newest|older C   that input was the newest value, or an older one
#   join OP C          OP read two or more activations (a residual, a concat)
#   const OP C         OP read one activation and a constant (bias, scale)
#   join|const PREV OP C   the same, by the op PREV that produced OP's first
#                      activation
#   cshape PREV OP scalar|bias|chan C   the shape of that constant (Add, Sub,
#                      Mul, Div): one element, the last dim, [C,1,1]
#   attr OP KEY VAL C  attribute statistics: kernel, stride, pad (same|zero|
#                      other), group (1|dw|g), axis
#   chan N C           N output channels (Conv) or features (MatMul, Gemm)
#   motif STEPS C      a chain of ops placed as one unit, with its constant
#                      operands (proteus_py/generator/motifs.py: the notation)
#   input FAMILY FILE SHA256  what the counts came from
"""

VERSION = 1


def _activations(node):
    return [(k, i) for k, i in node["ins"] if k in ("node", "input")]


def _const_shape(n):
    """scalar | bias | chan: how a binary op's constant is shaped (one
    element; a vector over the activation's last dim; one value per channel
    of an NCHW activation), None otherwise."""
    if n["op"] not in ("Add", "Sub", "Mul", "Div"):
        return None
    act = next((s for (k, _), s in zip(n["ins"], n["in_shapes"]) if k in ("node", "input")), None)
    cst = next((s for (k, _), s in zip(n["ins"], n["in_shapes"]) if k == "const"), None)
    if cst is None:
        return None
    if all(d == 1 for d in cst):
        return "scalar"
    if len(cst) == 1 and act and act[-1] == cst[0]:
        return "bias"
    if act and len(act) == 4 and len(cst) >= 3 and cst[-3] == act[1] and all(d == 1 for d in cst[-2:]):
        return "chan"
    return None


def count(subgraph, c):
    c["size"][len(subgraph)] += 1
    newest = -1
    for i, n in enumerate(subgraph):
        op = n["op"]
        acts = _activations(n)
        if acts:
            kind, src = acts[0]
            prev = subgraph[src]["op"] if kind == "node" else "^"
            c["next"][(prev, op)] += 1
            if kind == "node":
                c["operand"]["newest" if src == newest else "older"] += 1
        else:
            c["next"][("^", op)] += 1
        prev = (subgraph[acts[0][1]]["op"] if acts[0][0] == "node" else "^") if acts else None
        if len(acts) >= 2:
            c["join"][op] += 1
            c["join"][prev + " " + op] += 1
        elif acts and any(k == "const" for k, _ in n["ins"]):
            c["const"][op] += 1
            c["const"][prev + " " + op] += 1
            shape = _const_shape(n)
            if shape:
                c["cshape"][(prev, op, shape)] += 1
        a = n["attrs"]
        ins, outs = n["in_shapes"], n["out_shapes"]
        if op in ("Conv", "MaxPool", "AveragePool"):
            ks = a.get("kernel_shape")
            if ks:
                c["attr"][(op, "kernel", ks[0])] += 1
            st = a.get("strides")
            c["attr"][(op, "stride", st[0] if st else 1)] += 1
            pads = a.get("pads")
            p = pads[0] if pads else 0
            c["attr"][(op, "pad", "zero" if p == 0 else "same" if ks and p == ks[0] // 2 else "other")] += 1
        if op == "Conv":
            g = a.get("group", 1)
            cin = ins[0][1] if ins and ins[0] and len(ins[0]) > 1 else None
            c["attr"][(op, "group", "1" if g == 1 else "dw" if g == cin else "g")] += 1
            if outs and outs[0] and len(outs[0]) > 1 and outs[0][1]:
                c["chan"][outs[0][1]] += 1
        if op in ("MatMul", "Gemm") and outs and outs[0] and outs[0][-1]:
            if any(k == "const" for k, _ in n["ins"]):
                c["chan"][outs[0][-1]] += 1
        if op in ("Softmax", "Concat", "Flatten") and "axis" in a:
            c["attr"][(op, "axis", a["axis"])] += 1
        if acts:
            newest = i


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write(path, c, inputs):
    lines = ["pxg %d" % VERSION, "# proteus learned sentinel generator (python -m proteus_py.generator)"]
    lines += FORMAT.rstrip("\n").split("\n")
    for fam, f, sha in inputs:
        lines.append("input %s %s %s" % (fam, os.path.basename(f), sha))
    for k in sorted(c["size"]):
        lines.append("size %d %d" % (k, c["size"][k]))
    for (p, o), v in sorted(c["next"].items()):
        lines.append("next %s %s %d" % (p, o, v))
    for k, v in sorted(c["operand"].items()):
        lines.append("operand %s %d" % (k, v))
    for kind in ("join", "const"):
        for k, v in sorted(c[kind].items()):
            lines.append("%s %s %d" % (kind, k, v))
    for k, v in sorted(c["cshape"].items()):
        lines.append("cshape %s %s %s %d" % (k + (v,)))
    for (o, key, val), v in sorted(c["attr"].items(), key=lambda t: (t[0][0], t[0][1], str(t[0][2]))):
        lines.append("attr %s %s %s %d" % (o, key, val, v))
    for k in sorted(c["chan"]):
        lines.append("chan %d %d" % (k, c["chan"][k]))
    for k, v in sorted(motifs.closed(c["motif"]).items()):
        lines.append("motif %s %d" % (k, v))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="proteus train-generator",
                                 description="Fit the learned sentinel generator to real subgraphs.")
    ap.add_argument("dirs", nargs="+", help="folders of .onnx models (or model files)")
    ap.add_argument("-o", "--output", required=True, help="the .pxg file to write")
    ap.add_argument("--exclude-family", action="append", default=[],
                    help="leave a model family out (leave-one-family-out audits); repeatable")
    ap.add_argument("--seeds", type=int, default=2, help="partition seeds per model (default 2)")
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    proteus = os.environ.get("PROTEUS") or os.path.join(root, "build", "proteus")
    c = {k: collections.Counter() for k in ("size", "next", "operand", "join", "const", "cshape", "attr", "chan",
                                              "motif")}
    inputs = []
    excluded = set(args.exclude_family)
    for f in harvest.model_files(args.dirs):
        fam = harvest.family(f)
        if fam in excluded:
            continue
        n = 0
        try:
            for seed in range(1, args.seeds + 1):
                for sg in harvest.subgraphs(proteus, f, seed):
                    count(sg, c)
                    motifs.count(sg, c["motif"])
                    n += 1
        except Exception as e:  # a model proteus cannot cut is reported, not fatal
            print("proteus: train-generator: %s: skipped (%s)" % (f, str(e).splitlines()[0] if str(e) else type(e).__name__),
                  file=sys.stderr)
            continue
        if n:
            inputs.append((fam, f, _sha256(f)))
    if not inputs:
        print("proteus: train-generator: no subgraphs harvested", file=sys.stderr)
        return 1
    write(args.output, c, inputs)
    print("train-generator: %d models, %d subgraphs -> %s" % (len(inputs), sum(c["size"].values()), args.output))
    return 0
