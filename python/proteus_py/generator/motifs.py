"""Motifs: frequent chains of ops, with their constant operands, harvested
from real subgraphs, that the C grower places as one unit (a Gelu written
as Div/Erf/Add/Mul/Mul with its exact constants, a bias Add then a residual
Add then LayerNormalization, the scores of an attention head) so that ONNX
Runtime finds in sentinels the patterns it fuses in reals.

A chain is a path n1 -> n2 -> ... where each node reads its predecessor's
output.  Each step is written OP:OPERAND,... (one operand per input slot):
  p        the previous step's output
  x        the chain's entry (the value n1 reads first)
  q        the value the entry was computed from (its producer's first
           activation: the x of a Gelu whose chain starts at its Erf)
  0..9     the output of an earlier step
  sVALUE   a one-element float constant, its value kept (%.7g)
  b        a constant over the last dim (a bias, a LayerNorm scale)
  c        another constant (a weight)
  e        an activation from outside the chain
Steps are joined by '/'.  An Identity of a constant (torch's deduplicated
weights) counts as that constant."""
import collections

MIN_LEN, MAX_LEN = 3, 8   # a bias Gelu is 7 ops
MAX_KEY = 120      # pxg words are at most 128 characters
MIN_COUNT = 8      # over the corpus: rarer chains are not motifs
CLOSED = 0.9       # a chain inside a longer one seen almost as often is that one's part


def _const_outputs(sg):
    """Indices of nodes that are an Identity of a constant."""
    return {i for i, n in enumerate(sg) if n["op"] == "Identity" and all(k == "const" for k, _ in n["ins"])}


def _operand(sg, n, slot, chain, idx, cid):
    kind, src = n["ins"][slot]
    if kind == "node" and src in cid:
        kind = "const"
    if kind == "node" and src in chain[:idx]:
        j = chain.index(src)
        return "p" if j == idx - 1 else str(j)
    if kind in ("node", "input"):
        first = sg[chain[0]]["ins"]
        entry = next((ins for ins in first if ins[0] in ("node", "input") and not (ins[0] == "node" and ins[1] in cid)), None)
        if entry == (kind, src) and idx > 0:
            return "x"
        if idx > 0 and entry and entry[0] == "node":  # what the entry was computed from (a Gelu's x)
            before = next((ins for ins in sg[entry[1]]["ins"] if ins[0] in ("node", "input")), None)
            if before == (kind, src):
                return "q"
        return "e"
    if kind == "const":
        v = n.get("scalars", [None] * len(n["ins"]))[slot]
        if v is not None:
            return "s%.7g" % v
        shp = n["in_shapes"][slot] if slot < len(n["in_shapes"]) else None
        if src in cid:
            shp = sg[src]["out_shapes"][0] if sg[src]["out_shapes"] else None
        out = n["out_shapes"][0] if n["out_shapes"] else None
        return "b" if shp and out and len(shp) == 1 and shp[0] == out[-1] else "c"
    return None


def _key(sg, chain, cid):
    steps = []
    for idx, i in enumerate(chain):
        n = sg[i]
        ops = [_operand(sg, n, s, chain, idx, cid) for s in range(len(n["ins"]))]
        if None in ops or (idx and "p" not in ops):
            return None
        if idx == 0 and "e" in ops:  # the entry is what the first step reads first
            ops[ops.index("e")] = "x"
        steps.append(n["op"] + ":" + ",".join(ops))
    key = "/".join(steps)
    return key if len(key) <= MAX_KEY and " " not in key else None


def count(sg, c):
    """Adds the chains of subgraph sg (node records, harvest.py) to c."""
    cid = _const_outputs(sg)
    readers = collections.defaultdict(list)
    for j, n in enumerate(sg):
        for kind, src in n["ins"]:
            if kind == "node" and j not in readers[src]:
                readers[src].append(j)

    def walk(chain):
        if len(chain) >= MIN_LEN:
            k = _key(sg, chain, cid)
            if k:
                c[k] += 1
        if len(chain) == MAX_LEN:
            return
        for j in readers[chain[-1]]:
            if j not in cid and sg[j]["op"] not in ("Identity", "Constant"):
                walk(chain + [j])

    for i, n in enumerate(sg):
        if i not in cid and n["op"] not in ("Identity", "Constant"):
            walk([i])


def closed(c):
    """The frequent chains not swallowed by a longer one seen about as
    often (keeps the whole Gelu, not each of its sub-chains)."""
    keep = {k: v for k, v in c.items() if v >= MIN_COUNT}
    out = {}
    for k, v in keep.items():
        steps = k.split("/")
        inside = False
        for l2, v2 in keep.items():
            s2 = l2.split("/")
            if len(s2) > len(steps) and v2 >= CLOSED * v and any(
                    [_strip(s) for s in s2[i:i + len(steps)]] == [_strip(s) for s in steps]
                    for i in range(len(s2) - len(steps) + 1)):
                inside = True
                break
        if not inside:
            out[k] = v
    return out


def _strip(step):
    """A step without the references that change with where the chain starts."""
    op, _, ops = step.partition(":")
    return op + ":" + ",".join("r" if o in ("p", "x", "e") or o.isdigit() else o for o in ops.split(","))
