"""Real subgraphs, cut as `obfuscate` cuts, reduced to the structure the
generator learns: for each node its op, attributes, which value of the
subgraph each input reads, and the static shapes ONNX inference gives."""
import json
import os
import re
import subprocess

import onnx
from onnx import helper, numpy_helper, shape_inference

# A family is a model with its export variants (opset, dynamic axes,
# precision, quantization) folded: leave-one-family-out removes them all.
_VARIANT = re.compile(r"-(op\d+|dyn|fp16|qdq|qop|old|nms|half|sequence|ifless|fw|16k|openvino)$")


def family(path):
    stem = os.path.basename(path)
    stem = stem[:-5] if stem.endswith(".onnx") else stem
    while True:
        s = _VARIANT.sub("", stem)
        if s == stem:
            return stem
        stem = s


def model_files(dirs):
    out = []
    for d in dirs:
        if os.path.isfile(d):
            out.append(d)
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".onnx"):
                out.append(os.path.join(d, name))
    return out


def partition(proteus, path, seed):
    """Node name/op/part as `proteus partition` cuts (the fusion table: what
    obfuscate does without --fusion-from, and no ONNX Runtime run)."""
    r = subprocess.run([proteus, "partition", path, "--seed", str(seed), "--fusion-from", "table"],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "partition failed")
    return json.loads(r.stdout)


def _shapes(model):
    """value name -> (elem_type, dims: int or None)."""
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:
        inferred = model
    g = inferred.graph
    out = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        out[vi.name] = (t.elem_type, [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim])
    for init in g.initializer:
        out[init.name] = (init.data_type, list(init.dims))
    return out


def _attrs(node):
    a = {}
    for at in node.attribute:
        v = helper.get_attribute_value(at)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, (int, float, str)) or (isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)):
            a[at.name] = v
    return a


def _scalars(model):
    """name -> float of each one-element float constant (initializer or
    Constant node): the exact scalars motifs keep (a Gelu's sqrt(2))."""
    out = {}
    tensors = [(i.name, i) for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    tensors += [(n.output[0], a.t) for n in model.graph.node if n.op_type == "Constant"
                for a in n.attribute if a.name == "value" and a.t.data_type == onnx.TensorProto.FLOAT]
    for name, t in tensors:
        n = 1
        for d in t.dims:
            n *= d
        if n == 1:
            out[name] = float(numpy_helper.to_array(t).reshape(-1)[0])
    return out


def subgraphs(proteus, path, seed=1):
    """Yields one list of node records per real subgraph of the model."""
    part = partition(proteus, path, seed)
    model = onnx.load(path, load_external_data=False)
    nodes = list(model.graph.node)
    recs = part["nodes"]
    if len(recs) != len(nodes) or any(r["op"] != n.op_type for r, n in zip(recs, nodes)):
        return  # functions inlined or reordered: names would not line up; skip the model
    shapes = _shapes(model)
    scalars = _scalars(model)
    consts = {i.name for i in model.graph.initializer}
    for r, n in zip(recs, nodes):
        if n.op_type == "Constant" or r["part"] < 0:  # part -1: a constant obfuscate replicates
            consts.update(n.output)
    parts = {}
    for r, n in zip(recs, nodes):
        if r["part"] >= 0:
            parts.setdefault(r["part"], []).append(n)
    for p in sorted(parts):
        produced = {}
        out = []
        for i, n in enumerate(parts[p]):
            ins = []
            for x in n.input:
                if not x:
                    ins.append(("none", -1))
                elif x in consts:
                    ins.append(("const", -1))
                elif x in produced:
                    ins.append(("node", produced[x]))
                else:
                    ins.append(("input", -1))
            out.append({"op": n.op_type, "attrs": _attrs(n), "ins": ins,
                        "scalars": [scalars.get(x) for x in n.input],
                        "in_shapes": [shapes.get(x, (0, None))[1] for x in n.input],
                        "out_shapes": [shapes.get(x, (0, None))[1] for x in n.output]})
            for x in n.output:
                produced[x] = i
        yield out
