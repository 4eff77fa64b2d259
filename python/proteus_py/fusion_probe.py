"""Which edges of a model the reference optimizer ties together.

The owner runs ONNX Runtime at the level the user names on the whole model,
locally, writes the optimized graph, and compares it with the original, per
value v of the original graph (an edge from v's producer to its consumers):

  fused    v is gone from the optimized graph and no blocked-layout node
           stands for it: it now lives inside a fused node (Conv+BN+Relu,
           Conv+Add "sum", HardSigmoid+Mul, GELU, LayerNorm, ...).  A cut
           there loses the fusion: must not cut.
  folded   v became an initializer of the optimized graph although a
           runtime node computes it in the original (Shape chains on static
           shapes): a cut would turn it into a runtime input and stop the
           folding.  Must not cut.
  blocked  v is kept in ONNX Runtime's blocked NCHWc layout (a
           com.microsoft.nchwc node named V_nchwc computes it): a cut there
           costs a ReorderOutput in one file and a ReorderInput in the next.
  residual v is the other operand of a residual Add that ONNX Runtime fused
           into the NCHWc Conv before it ("sum"): when the Add's part
           receives v as an input, the Add is not fused (it stays, with its
           activation, in plain layout): a cut there costs more than a
           reorder.
  exposed  v, made a graph output (as a cut makes it), undoes a fusion that
           ends in it: ONNX Runtime is run a second time on the model with
           every blocked and plain value added to the graph outputs, and a
           value whose fused group comes apart there (an NCHWc node that
           loses its activation or sum, a fused value that reappears) is
           exposed.  A cut there costs the fusion.
  plain    v is kept as is: a cut costs a copy at most.

Prints JSON on stdout (where ONNX Runtime cannot load or optimize the
model: {"error": ONE LINE}, exit status 0): {"level": L, "ort": VERSION, "fused": [names],
"folded": [names], "blocked": [names], "residual": [names], "exposed": [names]} (each sorted; every other value of
the original is plain).  Deterministic: the output depends only on the
model, the level and the ONNX Runtime version.

  python -m proteus_py.fusion_probe MODEL [--level all|extended|basic]
"""
import argparse
import json
import os
import sys
import tempfile

NCHWC = "com.microsoft.nchwc"
SUFFIX = "_nchwc"
LEVELS = ("basic", "extended", "all")


def optimized_graph(model, level):
    """The graph ONNX Runtime makes of model (a path, or the bytes of a
    model) at level (weights left out)."""
    import onnx
    import onnxruntime as ort

    from proteus_py.ort import LOG_SEVERITY_SESSION

    with tempfile.TemporaryDirectory(prefix="proteus-fusion-") as d:
        out = os.path.join(d, "opt.onnx")
        so = ort.SessionOptions()
        so.graph_optimization_level = {
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[level]
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = LOG_SEVERITY_SESSION
        so.optimized_model_filepath = out
        # weights go to a side file that is never read back: only the
        # graph's structure is compared
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name", "weights.bin")
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "64")
        ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        return onnx.load(out, load_external_data=False).graph, ort.__version__


def classify(orig, opt, opt2=None):
    """Returns {"fused", "folded", "blocked", "residual"}: sorted lists of value names
    of the original graph orig (onnx GraphProto) given the optimized opt
    (and, for "exposed", opt2: orig with values added as outputs, optimized;
    see exposable())."""
    opt_inits = {t.name for t in opt.initializer}
    opt_names = set(opt_inits)
    for n in opt.node:
        opt_names.update(x for x in n.input if x)
        opt_names.update(x for x in n.output if x)
    opt_names.update(x.name for x in opt.output)
    orig_inits = {t.name for t in orig.initializer}
    # values computed from initializers only: the partitioner replicates
    # their nodes into each subgraph that reads them; nothing to learn there
    const = set(orig_inits)
    for n in orig.node:
        if n.input and all((not x) or x in const for x in n.input) and not n.op_type.startswith("Random"):
            const.update(x for x in n.output if x)
        elif not n.input and n.op_type == "Constant":
            const.update(x for x in n.output if x)
    graph_out = {x.name for x in orig.output}
    consumers, producer = {}, {}
    for n in orig.node:
        for x in n.output:
            if x:
                producer[x] = n
        for x in dict.fromkeys(n.input):
            if x:
                consumers.setdefault(x, []).append(n)

    def names_of(gr):
        ns = {t.name for t in gr.initializer}
        for n in gr.node:
            ns.update(x for x in n.input if x)
            ns.update(x for x in n.output if x)
        ns.update(x.name for x in gr.output)
        return ns

    def chains(gr, present):
        """NCHWc nodes of gr: name -> (values inside it, the value it
        computes); and the residual operands of the Adds fused as sums.
        ONNX Runtime names each NCHWc node after the original value it
        starts from (V_nchwc).  Ops it absorbed after that value (a residual
        Add as the Conv's fourth, "sum", input; then its activation
        attribute) are fused: V and the values between lie inside the node,
        and the last one is what it computes, in blocked layout."""
        def next_of(v, ops):
            c = consumers.get(v, [])
            if len(c) == 1 and c[0].op_type in ops and c[0].output and c[0].output[0] not in present:
                return c[0].output[0]
            return None

        out, resid = {}, set()
        for n in gr.node:
            if n.domain != NCHWC or not n.name.endswith(SUFFIX) or n.op_type.startswith("Reorder"):
                continue
            cur = n.name[:-len(SUFFIX)]
            if cur not in producer:
                continue
            ins = []
            if n.op_type == "Conv" and len(n.input) > 3 and n.input[3]:
                nxt = next_of(cur, ("Add", "Sum"))
                if nxt:
                    ins.append(cur)
                    resid.update(x for x in consumers[cur][0].input if x and x != cur)
                    cur = nxt
            act = next((a.s.decode() for a in n.attribute if a.name == "activation"), None)
            if act and producer[cur].op_type != act:
                nxt = next_of(cur, (act,))
                if nxt:
                    ins.append(cur)
                    cur = nxt
            out[n.name] = (ins, cur)
        return out, resid

    ch, residual = chains(opt, opt_names)
    blocked = {end for _, end in ch.values()}
    inside = {v for ins, _ in ch.values() for v in ins}
    res = {"fused": [], "folded": [], "blocked": [], "residual": [], "exposed": []}
    exposed = set()
    if opt2 is not None:
        names2 = names_of(opt2)
        # an exposed value is present there through its ReorderOutput: that
        # alone does not end a chain
        reordered = {x for n in opt2.node if n.op_type == "ReorderOutput" for x in n.output}
        ch2, _ = chains(opt2, names2 - reordered)
        for name, (ins, end) in ch.items():
            if name not in ch2 or len(ch2[name][0]) < len(ins):
                exposed.add(end)
        # other fusions (any level): a value gone from opt is back in opt2;
        # the value its chain of single readers leads to was exposed
        for n in orig.node:
            for u in n.output:
                if (not u or u in opt_names or u not in names2 or u in const or u in inside or u in blocked
                        or u in reordered):
                    continue
                cur, seen = u, 0
                while len(consumers.get(cur, [])) == 1 and consumers[cur][0].output and seen < 64:
                    cur = consumers[cur][0].output[0]
                    seen += 1
                    if cur in opt_names or cur in blocked:
                        exposed.add(cur)
                        break
    for n in orig.node:
        for v in n.output:
            if not v or v in const or v in graph_out or v not in consumers:
                continue
            if v in inside:
                res["fused"].append(v)
            elif v in exposed:
                res["exposed"].append(v)
            elif v in residual:
                res["residual"].append(v)
            elif v in blocked:
                res["blocked"].append(v)
            elif v in opt_inits:
                res["folded"].append(v)
            elif v not in opt_names:
                # gone: inside a fused node when one node read it; a value
                # several nodes read cannot live inside one of them, so it
                # was renamed (the output of a blocked-layout node that
                # absorbed the ops after its named one)
                res["fused" if len(consumers[v]) == 1 else "blocked"].append(v)
    for k in res:
        res[k].sort()
    return res


def exposable(model_path, res):
    """The model with every value a cut could expose (blocked and plain
    values of the first classification) added as a graph output, as bytes;
    None when the model keeps its weights in external data or is too large
    to serialize."""
    import onnx

    if os.path.getsize(model_path) > (1 << 30):
        return None
    m = onnx.load(model_path, load_external_data=False)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer):
        return None
    g = m.graph
    skip = set(res["fused"]) | set(res["folded"])
    have = {o.name for o in g.output} | {i.name for i in g.input} | {t.name for t in g.initializer}
    consumed = {x for n in g.node for x in n.input if x}
    const = {t.name for t in g.initializer}
    for n in g.node:
        if n.input and all((not x) or x in const for x in n.input):
            const.update(x for x in n.output if x)
        elif not n.input and n.op_type == "Constant":
            const.update(x for x in n.output if x)
    add = [v for n in g.node for v in n.output if v and v not in skip and v not in have and v in consumed and v not in const]
    for v in add:
        g.output.append(onnx.ValueInfoProto(name=v))
    return m.SerializeToString()


def probe(model, level="all"):
    import onnx

    opt, version = optimized_graph(model, level)
    orig = onnx.load(model, load_external_data=False).graph
    res = classify(orig, opt)
    data = exposable(model, res)
    if data is not None:
        opt2, _ = optimized_graph(data, level)
        res = classify(orig, opt, opt2)
    return {"level": level, "ort": version, **res}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="proteus_py.fusion_probe")
    ap.add_argument("model")
    ap.add_argument("--level", default="all", choices=LEVELS)
    a = ap.parse_args(argv)
    try:
        r = probe(a.model, a.level)
    except Exception as e:  # one line, for the C side to report as it sees fit
        msg = " ".join(str(e).split()) or type(e).__name__
        json.dump({"error": msg[:300]}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    json.dump(r, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
