"""Sentinels (obfuscate -k K --sentinels random): valid ONNX, exactly the
interface of the real subgraph they hide, runnable and optimizable, anonymous
like the real ones, deterministic."""
import json
import os
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import CORPUS, ROOT, corpus_ids, key_view, proteus
from proteus_py.inputs import make_inputs

HOLDOUT = sorted(p for p in os.listdir(os.path.join(ROOT, "corpus", "holdout")) if p.endswith(".onnx"))


def interface(path):
    """dtype and shape (dims or symbols) of every input and output, in order."""
    m = onnx.load(path, load_external_data=False)

    def sig(vi):
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else ("sym" if d.HasField("dim_param") else None)
                for d in t.shape.dim] if t.HasField("shape") else None
        return (t.elem_type, None if dims is None else tuple(dims))

    inits = {i.name for i in m.graph.initializer}
    return ([sig(v) for v in m.graph.input if v.name not in inits], [sig(v) for v in m.graph.output])


def obfuscate(src, base, k, seed=7, rehydrate=False):
    model = src
    if rehydrate:
        model = os.path.join(base, "model.onnx")
        proteus("rehydrate", src, model, "--seed", 2)
    bucket, key = os.path.join(base, "bucket"), os.path.join(base, "key.json")
    proteus("obfuscate", model, "-o", bucket, "--key", key, "-k", k, "--seed", seed, "--sentinels", "random",
            "--no-probe", "--allow-weak", *([] if rehydrate else ["--weightless"]))
    return model, bucket, key


@pytest.mark.parametrize("src", CORPUS + [os.path.join(ROOT, "corpus", "holdout", h) for h in HOLDOUT],
                         ids=corpus_ids() + [h[:-5] for h in HOLDOUT])
def test_sentinel_interfaces(src, scratch):
    """Every sentinel declares exactly its real subgraph's interface; the file
    count is n(k+1) and the groups partition the bucket."""
    _, bucket, key = obfuscate(src, str(scratch), 3)
    view = key_view(key)
    n, k = view["n"], view["k"]
    assert k == 3 and len(view["real"]) == n and len(view["groups"]) == n
    files = sorted(f for f in os.listdir(bucket) if f.endswith(".onnx"))
    assert files == sorted(view["files"]) and len(files) == n * (k + 1)
    grouped = [g["real"] for g in view["groups"]] + [s for g in view["groups"] for s in g["sentinels"]]
    assert sorted(grouped) == files
    for g in view["groups"]:
        want = interface(os.path.join(bucket, g["real"]))
        assert len(g["sentinels"]) == k
        for s in g["sentinels"]:
            assert interface(os.path.join(bucket, s)) == want, (g["real"], s)


SMALL = ["squeezenet1_1-op13", "resnet18-op17", "mobilenet_v3_large-op17", "distilbert-op17", "bert-dyn-op17",
         "resnet18-dyn-op17", "gpt2-op13"]


@pytest.mark.parametrize("name", SMALL)
def test_sentinels_valid_and_runnable(name, scratch):
    """With weights: every file passes onnx.checker (full check), loads in ONNX
    Runtime at the highest optimization level; sentinels run on seeded inputs and
    produce outputs of the declared dtypes and shapes (real files
    may not on random inputs: one that reads a shape tensor gets a random
    shape)."""
    src = os.path.join(ROOT, "corpus", "models", name + ".onnx")
    _, bucket, key = obfuscate(src, str(scratch), 2, rehydrate=True)
    view = key_view(key)
    sentinels = {s for g in view["groups"] for s in g["sentinels"]}
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    for f in view["files"]:
        path = os.path.join(bucket, f)
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        if f not in sentinels:
            continue  # a real file that reads a shape tensor need not run on random inputs
        outs = sess.run(None, make_inputs(path, seed=1))
        for o, decl in zip(outs, m.graph.output):
            t = decl.type.tensor_type
            assert o.dtype == onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            assert o.ndim == len(dims) and all(d is None or d == s for d, s in zip(dims, o.shape)), (f, o.shape, dims)


def test_sentinels_anonymous_like_real(scratch):
    """Sentinels and real files share every header field and naming scheme:
    the strings of a file say nothing about its role."""
    src = os.path.join(ROOT, "corpus", "models", "resnet50-op17.onnx")
    _, bucket, key = obfuscate(src, str(scratch), 4)
    view = key_view(key)
    headers = set()
    name_re = re.compile(r"^[iotwn]\d+$")
    for f in view["files"]:
        m = onnx.load(os.path.join(bucket, f), load_external_data=False)
        headers.add((m.ir_version, m.producer_name, m.producer_version, m.graph.name, m.doc_string,
                     tuple((o.domain, o.version) for o in m.opset_import)))
        g = m.graph
        for v in list(g.input) + list(g.output) + list(g.value_info):
            assert name_re.match(v.name), (f, v.name)
        for t in g.initializer:
            assert name_re.match(t.name), (f, t.name)
        for nd in g.node:
            assert name_re.match(nd.name) and not nd.doc_string, (f, nd.name)
    assert len(headers) == 1
    stamps = {os.stat(os.path.join(bucket, f)).st_mtime for f in view["files"]}
    assert stamps == {0.0}


def test_sentinels_deterministic_and_keyed_by_the_secret(tmp_path):
    """Same model, k and secret: byte-identical buckets and key files, with
    any --seed (two buckets of one model must not be intersectable:
    test_reobfuscate.py).  Another passphrase: other file names and other
    sentinels, so the public source code does not let an attacker replay
    which names and sentinels were drawn."""
    src = os.path.join(ROOT, "corpus", "models", "googlenet-op13.onnx")
    runs = []
    for tag, seed, pw in (("a", 5, None), ("b", 5, None), ("c", 6, None), ("d", 5, "another passphrase")):
        base = tmp_path / tag
        base.mkdir()
        env = dict(os.environ, PROTEUS_PASSPHRASE=pw) if pw else None
        bucket, key = os.path.join(base, "bucket"), os.path.join(base, "key")
        proteus("obfuscate", src, "-o", bucket, "--key", key, "-k", 3, "--seed", seed, "--sentinels", "random",
                "--no-probe", "--allow-weak", "--weightless", env=env)
        content = {f: open(os.path.join(bucket, f), "rb").read() for f in sorted(os.listdir(bucket))}
        runs.append((content, key_view(key) if not pw else None))
    assert runs[0] == runs[1]  # the same bucket, and a key that says the same (its file bytes differ: fresh salt)
    assert runs[0][0] == runs[2][0]  # --seed changes nothing
    for other in (runs[3],):
        assert not (set(runs[0][0]) - {"manifest.json"}) & set(other[0])
        sentinel_bytes = set(runs[0][0].values())
        assert len(sentinel_bytes & set(other[0].values())) <= len(runs[0][0]) // 4  # only real files may repeat


def test_sentinel_names_do_not_repeat_across_k(tmp_path):
    """Two buckets of one model with one seed but different k share no file
    name, so comparing them does not point at the real files."""
    src = os.path.join(ROOT, "corpus", "models", "resnet18-op17.onnx")
    names = []
    for k in (1, 2):
        base = tmp_path / f"k{k}"
        base.mkdir()
        _, bucket, _ = obfuscate(src, str(base), k)
        names.append(set(os.listdir(bucket)) - {"manifest.json"})
    assert not names[0] & names[1]


def test_pipeline_with_sentinels(scratch):
    """The whole pipeline with k=3: sentinels are optimized with the real
    files, reassembly picks the real ones and the result matches."""
    src = os.path.join(ROOT, "corpus", "models", "mobilenet_v2-op17.onnx")
    base = str(scratch)
    model = os.path.join(base, "model.onnx")
    proteus("rehydrate", src, model, "--seed", 3)
    bucket, key = os.path.join(base, "bucket"), os.path.join(base, "key.json")
    proteus("obfuscate", model, "-o", bucket, "--key", key, "-k", 3, "--seed", 1, "--sentinels", "random",
            "--allow-weak")
    out, re_model = os.path.join(base, "opt"), os.path.join(base, "re.onnx")
    proteus("optimize", bucket, "-o", out, "--with", "ort:all")
    proteus("reassemble", out, "--key", key, "-o", re_model)
    r = proteus("verify", model, re_model, "--json")
    assert json.loads(r.stdout)["ok"]


def test_bad_sentinel_options(tmp_path):
    src = os.path.join(ROOT, "corpus", "models", "resnet18-op17.onnx")
    r = proteus("obfuscate", src, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--sentinels", "nope",
                check=False)
    assert r.returncode == 1 and "--sentinels nope: unknown generator" in r.stderr
    r = proteus("obfuscate", src, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 5000, check=False)
    assert r.returncode != 0 and "-k" in r.stderr
    assert not os.path.exists(tmp_path / "b") and not os.path.exists(tmp_path / "k")
