"""obfuscate -> optimize -> reassemble -> verify over the whole corpus."""
import json
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest

from conftest import CORPUS, PROTEUS, corpus_ids, key_view, proteus
from proteus_py.inputs import make_inputs
from proteus_py.ort import run



def within(x, y, rtol):
    """The criterion of proteus verify: max |y - x| <= rtol * max |x|."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    return x.shape == y.shape and bool(np.abs(y - x).max() <= rtol * np.abs(x).max())


def verify(ref, cand, rtol=1e-4, atol=0.0):
    r = subprocess.run([PROTEUS, "verify", ref, cand, "--json", "--rtol", str(rtol), "--atol", str(atol)],
                       capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def _pipeline(src, base, driver, tag, model, bucket, key):
    out = os.path.join(base, f"opt-{tag}")
    re_model = os.path.join(base, f"re-{tag}.onnx")
    proteus("optimize", bucket, "-o", out, "--with", driver)
    proteus("reassemble", out, "--key", key, "-o", re_model, "--allow-unverified")
    shutil.rmtree(out)
    return re_model


@pytest.mark.parametrize("src", CORPUS, ids=corpus_ids())
def test_pipeline(src, scratch):
    """For each model: the bucket is valid and anonymous; copy gives
    bitwise-identical outputs; ort:extended and ort:all stay within a
    relative tolerance of 1e-4.  Files are removed as soon as they are
    checked: rehydrated corpus models are large."""
    tmp_path = scratch
    model, bucket, key = str(tmp_path / "model.onnx"), str(tmp_path / "bucket"), str(tmp_path / "key.json")
    proteus("rehydrate", src, model, "--seed", 5)
    # parts that read shape tensors cannot be fingerprinted on random inputs
    # (distilbert's Expand): their interfaces are still checked
    proteus("obfuscate", model, "-o", bucket, "--key", key, "--seed", 11, "-k", 0, "--allow-weak", "--allow-unverified")
    check_bucket(src, bucket)
    failures = []
    feeds = make_inputs(model, seed=0)
    names, ref = run(model, feeds)
    for driver, tag in (("copy", "copy"), ("ort:extended", "extended"), ("ort:all", "all")):
        re_model = _pipeline(src, str(tmp_path), driver, tag, model, bucket, key)
        cand_names, cand = run(re_model, feeds)
        assert cand_names == names
        for n, x, y in zip(names, ref, cand):
            if tag == "copy":
                ok = x.dtype == y.dtype and x.tobytes() == y.tobytes()
            else:
                ok = within(x, y, rtol=1e-4)
            if not ok:
                failures.append((tag, n, float(np.abs(x.astype(np.float64) - y).max())))
        os.unlink(re_model)
        if os.path.exists(re_model + ".data"):
            os.unlink(re_model + ".data")
    assert not failures, failures


def _original_strings(path):
    m = onnx.load(path, load_external_data=False)
    g = m.graph
    ops = {n.op_type for n in g.node} | {n.domain for n in g.node}
    s = {g.name, g.doc_string, m.doc_string, m.producer_name, m.producer_version, m.domain}
    s |= {p.key for p in m.metadata_props} | {p.value for p in m.metadata_props}
    for n in g.node:
        s |= {n.name, n.doc_string, *n.input, *n.output}
    for v in list(g.input) + list(g.output) + list(g.value_info):
        s.add(v.name)
    s |= {t.name for t in g.initializer}
    return {x for x in s if len(x) >= 4 and x not in ops}


def check_bucket(src, bucket):
    """Every file passes the full checker; no original string appears in
    any file or the manifest; all files share their header fields."""
    strings = _original_strings(src)
    files = sorted(f for f in os.listdir(bucket) if f.endswith(".onnx"))
    assert files, "empty bucket"
    manifest = open(os.path.join(bucket, "manifest.json"), "rb").read()
    assert sorted(json.loads(manifest)["files"]) == files
    headers = set()
    names_seen = {}
    for f in files:
        path = os.path.join(bucket, f)
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        headers.add((m.ir_version, m.producer_name, m.producer_version,
                     tuple((o.domain, o.version) for o in m.opset_import)))
        assert not m.doc_string and not m.graph.doc_string and not m.metadata_props
        assert all(not n.doc_string for n in m.graph.node)
        for n in m.graph.node:
            for name in [*n.input, *n.output, n.name]:
                if name:
                    names_seen.setdefault(name, set()).add(f)
    # no name may link two files except the canonical positional ones
    for name, fs in names_seen.items():
        assert len(name) <= 6, f"non-canonical name {name!r}"
    assert len(headers) == 1, "bucket files differ in header fields"
    # the bytes of every file with tensor payloads dropped (random weights
    # could hold any short byte string by chance), and the manifest
    blobs = [manifest]
    for f in files:
        m = onnx.load(os.path.join(bucket, f))
        for t in m.graph.initializer:
            t.ClearField("raw_data")
        blobs.append(m.SerializeToString())
    blob = b"\0".join(blobs)
    leaked = [s for s in strings if s.encode() in blob]
    assert not leaked, f"original strings in the bucket: {sorted(leaked)[:10]}"


def test_partition_convex_and_fusion_aware():
    """Independent checks in Python of what the C partitioner promises."""
    pairs = {("Conv", "BatchNormalization"), ("Conv", "Relu"), ("Conv", "Clip"), ("MatMul", "Add"),
             ("Gemm", "Relu"), ("Softmax", "MatMul"), ("Sqrt", "Div"), ("Erf", "Add"), ("Reshape", "Transpose")}
    for src in CORPUS:
        r = json.loads(proteus("partition", src, "--seed", 3).stdout)
        m = onnx.load(src, load_external_data=False)
        part = {n["name"]: n["part"] for n in r["nodes"]}
        nodes = {n.name: n for n in m.graph.node}
        producer = {o: n.name for n in m.graph.node for o in n.output}
        # convex: parts in the printed numbering never feed a lower part
        for n in m.graph.node:
            for i in n.input:
                p = producer.get(i)
                if p is None or part[p] < 0 or part[n.name] < 0:
                    continue
                assert part[p] <= part[n.name], f"{src}: part {part[p]} feeds part {part[n.name]}"
                if (nodes[p].op_type, n.op_type) in pairs:
                    assert part[p] == part[n.name], f"{src}: {nodes[p].op_type}->{n.op_type} cut ({p} -> {n.name})"
        sizes = [list(part.values()).count(k) for k in range(r["parts"])]
        assert min(sizes) >= 1
        assert r["parts"] >= 2 or len(m.graph.node) < 24


def test_deterministic(tmp_path):
    src = next(p for p in CORPUS if "mobilenet_v2-op13" in p)
    model = tmp_path / "m.onnx"
    proteus("rehydrate", src, model)
    for i in (1, 2):
        proteus("obfuscate", model, "-o", tmp_path / f"b{i}", "--key", tmp_path / f"k{i}.json", "--seed", 9, "-k", 0, "--allow-weak")
    f1, f2 = sorted(os.listdir(tmp_path / "b1")), sorted(os.listdir(tmp_path / "b2"))
    assert f1 == f2
    for f in f1:
        assert (tmp_path / "b1" / f).read_bytes() == (tmp_path / "b2" / f).read_bytes()
    # the key files differ (a fresh salt and nonce each time), what they say does not
    assert key_view(tmp_path / "k1.json") == key_view(tmp_path / "k2.json")
    # another --seed: the same bucket (re-obfuscating must not be intersectable, test_reobfuscate.py)
    proteus("obfuscate", model, "-o", tmp_path / "b3", "--key", tmp_path / "k3.json", "--seed", 10, "-k", 0, "--allow-weak")
    assert sorted(os.listdir(tmp_path / "b3")) == f1


def _tamper_setup(tmp_path):
    src = next(p for p in CORPUS if "resnet18-op17" in p)
    model = tmp_path / "m.onnx"
    proteus("rehydrate", src, model)
    proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k.json", "-k", 0, "--allow-weak")
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "copy")
    return key_view(tmp_path / "k.json"), tmp_path / "o"


def _refused(r, name):
    assert r.returncode != 0
    assert name in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_tamper_missing_file(tmp_path):
    key, out = _tamper_setup(tmp_path)
    victim = key["real"][1]
    os.unlink(out / victim)
    r = proteus("reassemble", out, "--key", tmp_path / "k.json", "-o", tmp_path / "r.onnx", check=False)
    _refused(r, victim)
    assert not (tmp_path / "r.onnx").exists()


def test_tamper_interface_changed(tmp_path):
    key, out = _tamper_setup(tmp_path)
    victim = key["real"][0]
    m = onnx.load(out / victim)
    d = m.graph.input[0].type.tensor_type.shape.dim
    d[-1].dim_value = d[-1].dim_value + 1
    onnx.save(m, out / victim)
    r = proteus("reassemble", out, "--key", tmp_path / "k.json", "-o", tmp_path / "r.onnx", check=False)
    _refused(r, victim)
    assert not (tmp_path / "r.onnx").exists()


def test_tamper_swapped(tmp_path):
    key, out = _tamper_setup(tmp_path)
    a, b = key["real"][0], key["real"][1]
    os.rename(out / a, out / "tmp")
    os.rename(out / b, out / a)
    os.rename(out / "tmp", out / b)
    r = proteus("reassemble", out, "--key", tmp_path / "k.json", "-o", tmp_path / "r.onnx", check=False)
    assert r.returncode != 0
    assert a in r.stderr or b in r.stderr, r.stderr
    assert not (tmp_path / "r.onnx").exists()


def test_optimize_reports_failures(tmp_path):
    key, out = _tamper_setup(tmp_path)
    r = proteus("optimize", tmp_path / "b", "-o", tmp_path / "o2", "--with", "cmd:false {in} {out}",
                "--max-failures", 0, check=False)
    assert r.returncode == 1
    assert r.stderr.count("proteus: optimize:") >= len(key["files"])
    assert not [f for f in os.listdir(tmp_path / "o2") if not f.startswith(".")]


def test_optimize_cmd_and_shards(tmp_path):
    key, _ = _tamper_setup(tmp_path)
    for i in range(3):
        proteus("optimize", tmp_path / "b", "-o", tmp_path / "o3", "--with", "cmd:cp {in} {out}", "--shard", f"{i}/3")
    assert sorted(os.listdir(tmp_path / "o3")) == sorted(key["files"])
    proteus("reassemble", tmp_path / "o3", "--key", tmp_path / "k.json", "-o", tmp_path / "r.onnx")
    res = verify(str(tmp_path / "m.onnx"), str(tmp_path / "r.onnx"))
    assert all(o["bitwise"] for o in res["outputs"].values())


def _sig(path):
    """A file's interface: dtype and dims of each input and output."""
    g = onnx.load(path, load_external_data=False).graph
    inits = {t.name for t in g.initializer}

    def one(v):
        t = v.type.tensor_type
        return [t.elem_type, [d.dim_value or d.dim_param for d in t.shape.dim]]
    return json.dumps([one(v) for v in g.input if v.name not in inits] + [one(v) for v in g.output])


def test_tamper_swapped_same_interface(tmp_path):
    """Two real files with identical interfaces (repeated transformer
    blocks) swapped: only the functional fingerprint can tell."""
    src = next(p for p in CORPUS if "distilbert-op17" in p)
    model = tmp_path / "m.onnx"
    proteus("rehydrate", src, model)
    proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k.json", "--seed", 2, "-k", 0, "--allow-weak")
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "ort:extended")
    by_sig = {}
    for f in key_view(tmp_path / "k.json")["real"]:
        by_sig.setdefault(_sig(tmp_path / "b" / f), []).append(f)
    twins = next(v for v in by_sig.values() if len(v) >= 2)
    a, b = twins[:2]
    out = tmp_path / "o"
    os.rename(out / a, out / "tmp")
    os.rename(out / b, out / a)
    os.rename(out / "tmp", out / b)
    r = proteus("reassemble", out, "--key", tmp_path / "k.json", "-o", tmp_path / "r.onnx", check=False)
    assert r.returncode != 0
    assert (a in r.stderr or b in r.stderr) and "computes something else" in r.stderr, r.stderr
    assert not (tmp_path / "r.onnx").exists()


def test_tamper_weight_changed(tmp_path):
    from onnx import numpy_helper
    key, out = _tamper_setup(tmp_path)
    victim = key["real"][-1]
    m = onnx.load(out / victim)
    t = max(m.graph.initializer, key=lambda t: len(t.raw_data))
    a = numpy_helper.to_array(t).copy()
    a.flat[a.size // 2] += 1.0
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, out / victim)
    r = proteus("reassemble", out, "--key", tmp_path / "k.json", "-o", tmp_path / "r.onnx", check=False)
    _refused(r, victim)
    assert "computes something else" in r.stderr
    assert not (tmp_path / "r.onnx").exists()


@pytest.mark.parametrize("driver", ["onnxoptimizer", "onnxsim"])
def test_other_drivers(tmp_path, driver):
    src = next(p for p in CORPUS if "mobilenet_v2-op13" in p)
    model = tmp_path / "m.onnx"
    proteus("rehydrate", src, model)
    proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k.json", "--seed", 4, "-k", 0, "--allow-weak")
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", driver)
    proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k.json", "-o", tmp_path / "r.onnx")
    assert verify(str(model), str(tmp_path / "r.onnx"))["ok"]
