"""Control flow in sentinels, on the real-world models that have If/Loop/Scan
(corpus/realworld, the MANIFEST's control_flow field), with both
generators: sentinels hold control flow as often as the real files do
(within the binomial spread of the sentinel count), in fact each group's
sentinels have their real file's kinds of control-flow nodes; every
sentinel has its real file's interface, loads and is optimized by ONNX
Runtime at every level, passes onnx.checker wherever its real file does,
and its bodies are anonymized like the real ones; a model without control
flow gets none; the same secret gives the same bucket, another other
sentinels."""
import math
import os
import re

import onnx
import onnxruntime as ort
import pytest

from conftest import ROOT, key_view, proteus
from test_realworld import manifest, realworld_models, shape_args, value_args  # noqa: F401 (a fixture)
from test_sentinels import interface

CF_MODELS = [e["name"] for e in manifest() if e.get("control_flow")]
GENERATORS = ["random", "learned"]
K = 4
LEVELS = [ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, ort.GraphOptimizationLevel.ORT_ENABLE_ALL]
BODY_NAME = re.compile(r"^b[vng]\d+$")
OUTER_NAME = re.compile(r"^([iotw]\d+|bv\d+)$")


def cf_kinds(g):
    """The op types of g's top-level nodes that have graph attributes."""
    return sorted(n.op_type for n in g.node
                  if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute))


def bodies(g):
    for n in g.node:
        for a in n.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else
                        list(a.graphs) if a.type == onnx.AttributeProto.GRAPHS else []):
                yield sub
                yield from bodies(sub)


def body_names_anonymous(m):
    """Every name defined in a body is positional (bv/bn/bg), every name it
    reads from outside is one of the file's positional names."""
    for b in bodies(m.graph):
        if not BODY_NAME.match(b.name):
            return f"graph {b.name}"
        defined = {v.name for v in b.input} | {t.name for t in b.initializer} | {o for n in b.node for o in n.output}
        for v in list(b.input) + list(b.output) + list(b.value_info):
            if not BODY_NAME.match(v.name):
                return v.name
        for n in b.node:
            if (n.name and not BODY_NAME.match(n.name)) or n.doc_string:
                return f"node {n.name}"
            for o in n.output:
                if o and not BODY_NAME.match(o):
                    return o
            for i in n.input:
                if i and i not in defined and not OUTER_NAME.match(i) and not BODY_NAME.match(i):
                    return i
    return None


def _model(models, name):
    path = os.path.join(models, name + ".onnx")
    if not os.path.exists(path):
        pytest.skip(f"{name} was not made here (see test_realworld.py)")
    return path


def _obfuscate(name, path, out, gen, seed=11, env=None):
    """obfuscate -k K with the model's own inputs (the types ONNX Runtime
    gives values proteus cannot type decide where cuts may go)."""
    entry = next(e for e in manifest() if e["name"] == name)
    bucket, key = os.path.join(out, "bucket"), os.path.join(out, "key")
    proteus("obfuscate", path, "-o", bucket, "--key", key, "-k", K, "--seed", seed, "--allow-weak",
            "--allow-unverified", "--sentinels", gen, *shape_args(entry), *value_args(entry, out), env=env)
    return bucket, key


@pytest.fixture(scope="module")
def buckets(realworld_models, tmp_path_factory):  # noqa: F811
    """(model, generator) -> (bucket, key view), made once for the module."""
    made = {}

    def get(name, gen):
        if (name, gen) not in made:
            out = str(tmp_path_factory.mktemp(f"{name}-{gen}"))
            bucket, key = _obfuscate(name, _model(realworld_models, name), out, gen)
            made[name, gen] = (bucket, key_view(key))
        return made[name, gen]
    return get


@pytest.mark.parametrize("gen", GENERATORS)
@pytest.mark.parametrize("name", CF_MODELS)
def test_sentinels_with_control_flow_valid(name, gen, buckets):
    """Each group: the sentinels have the real file's control-flow kinds;
    its interface; ONNX Runtime loads and optimizes each at every level;
    onnx.checker (full) passes where it passes on the real file; body names
    are positional."""
    bucket, view = buckets(name, gen)
    n_cf = 0
    for g in view["groups"]:
        real = onnx.load(os.path.join(bucket, g["real"]))
        want_kinds, want_io = cf_kinds(real.graph), interface(os.path.join(bucket, g["real"]))
        try:
            onnx.checker.check_model(real, full_check=True)
            real_checks = True
        except onnx.checker.ValidationError:
            real_checks = False  # e.g. an output of unknown rank, in every file of the group alike
        for s in g["sentinels"]:
            path = os.path.join(bucket, s)
            m = onnx.load(path)
            assert cf_kinds(m.graph) == want_kinds, (s, want_kinds)
            assert interface(path) == want_io, s
            if real_checks:
                onnx.checker.check_model(m, full_check=True)
            for level in LEVELS:
                opts = ort.SessionOptions()
                opts.graph_optimization_level = level
                opts.log_severity_level = 3
                ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            assert body_names_anonymous(m) is None, (s, body_names_anonymous(m))
            n_cf += bool(want_kinds)
    assert n_cf >= K  # the model's control flow reached at least one group


@pytest.mark.parametrize("gen", GENERATORS)
def test_control_flow_fraction_like_reals(gen, buckets):
    """Over all control-flow models: the fraction of sentinel files with
    control flow is the real files' fraction p within three binomial
    standard deviations of the sentinel count (and half a file), p being
    what a sentinel that has control flow with probability p would give."""
    n_real = c_real = n_sent = c_sent = 0
    for name in CF_MODELS:
        bucket, view = buckets(name, gen)
        for g in view["groups"]:
            n_real += 1
            c_real += bool(cf_kinds(onnx.load(os.path.join(bucket, g["real"]), load_external_data=False).graph))
            for s in g["sentinels"]:
                n_sent += 1
                c_sent += bool(cf_kinds(onnx.load(os.path.join(bucket, s), load_external_data=False).graph))
    p = c_real / n_real
    assert 0 < p < 1
    tol = 3 * math.sqrt(p * (1 - p) / n_sent) + 0.5 / n_sent
    assert abs(c_sent / n_sent - p) <= tol, (c_sent, n_sent, c_real, n_real)


@pytest.mark.parametrize("gen", GENERATORS)
def test_no_control_flow_without_it(gen, scratch):
    """A model without If/Loop/Scan: no file of its bucket has a graph attribute."""
    src = os.path.join(ROOT, "corpus", "models", "resnet18-op17.onnx")
    bucket = os.path.join(str(scratch), "bucket")
    proteus("obfuscate", src, "-o", bucket, "--key", os.path.join(str(scratch), "key"), "-k", 3, "--seed", 5,
            "--no-probe", "--allow-weak", "--weightless", "--sentinels", gen)
    files = [f for f in os.listdir(bucket) if f.endswith(".onnx")]
    assert len(files) >= 8
    for f in files:
        assert not list(bodies(onnx.load(os.path.join(bucket, f), load_external_data=False).graph)), f


@pytest.mark.parametrize("gen", GENERATORS)
def test_control_flow_sentinels_deterministic(gen, realworld_models, tmp_path):  # noqa: F811
    """The same model and secret: byte-identical buckets; another secret:
    other files with control flow (the real ones are anonymized alike, but
    their group's sentinels are drawn anew)."""
    path = _model(realworld_models, "torchscript-loop-if")
    runs = []
    for tag, pw in (("a", None), ("b", None), ("c", "another passphrase")):
        os.makedirs(tmp_path / tag)
        env = dict(os.environ, PROTEUS_PASSPHRASE=pw) if pw else None
        bucket, key = _obfuscate("torchscript-loop-if", path, str(tmp_path / tag), gen, env=env)
        runs.append({f: open(os.path.join(bucket, f), "rb").read() for f in sorted(os.listdir(bucket))})
    assert runs[0] == runs[1]
    with_cf = [{b for f, b in r.items() if f.endswith(".onnx") and cf_kinds(onnx.load_model_from_string(b).graph)}
               for r in runs]
    reals = {runs[0][f] for f in key_view(os.path.join(tmp_path, "a", "key"))["real"]}
    assert with_cf[0] - reals and not (with_cf[0] - reals) & with_cf[2]
