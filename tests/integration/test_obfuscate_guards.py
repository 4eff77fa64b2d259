"""obfuscate's defaults protect and it never destroys the owner's data:
weak promises, weightless models, existing keys, the input as output,
interrupts, stale temporaries, odd models (empty, local functions, bad or
new opsets, unknown ops, one very wide node, empty initializers)."""
import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import CORPUS, PROTEUS, key_view, proteus

RESNET = next(p for p in CORPUS if p.endswith("resnet18-op17.onnx"))


def one_line(r, code, *fragments):
    assert r.returncode == code, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "warning:" not in ln]
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    assert "Traceback" not in r.stderr


def nothing_but(d, *keep):
    assert sorted(os.listdir(d)) == sorted(keep), os.listdir(d)


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    d = tmp_path_factory.mktemp("guards")
    proteus("rehydrate", RESNET, d / "m.onnx", "--seed", 1)
    return d / "m.onnx"


def mlp(path, n_layers=4):
    """An 8-node MLP with real weights (MatMul + Relu per layer)."""
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(n_layers):
        inits.append(numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        nodes.append(helper.make_node("Relu", [f"h{i}"], [f"r{i}"]))
        prev = f"r{i}"
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 16])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def bucket_bytes(d):
    return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))}


def test_default_k_hides_with_learned_sentinels(tmp_path):
    """Without -k and --sentinels: k=20 sentinels of the learned generator (the
    summary says so, and no warning that the random baseline hides little)."""
    model = mlp(tmp_path / "mlp.onnx")
    r = proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k", "--json")
    s = json.loads(r.stdout)
    assert s["k"] == 20 and s["subgraphs"] >= 3 and s["sentinels"] == "learned", s
    assert "baseline" not in r.stderr and "hides little" not in r.stderr, r.stderr
    v = key_view(tmp_path / "k")
    assert v["k"] == 20 and len(v["real"]) >= 3
    # no file holds the whole model: every real file has fewer nodes than the MLP
    for f in v["real"]:
        assert len(onnx.load(tmp_path / "b" / f).graph.node) < 8
    # the default is --sentinels learned, byte for byte
    proteus("obfuscate", model, "-o", tmp_path / "bl", "--key", tmp_path / "kl", "--sentinels", "learned")
    assert bucket_bytes(tmp_path / "b") == bucket_bytes(tmp_path / "bl")
    assert key_view(tmp_path / "kl") == v


@pytest.mark.parametrize("name", ["squeezenet1_1-op17", "distilbert-op17"])
def test_default_generator_is_learned_on_corpus(name, tmp_path):
    """A corpus model obfuscated without --sentinels gives the bucket
    --sentinels learned gives, not the random baseline's."""
    model = next(p for p in CORPUS if p.endswith(name + ".onnx"))
    opts = ("-k", 2, "--seed", 3, "--allow-weak", "--weightless", "--no-probe")
    buckets = {}
    for gen in (None, "learned", "random"):
        d = tmp_path / (gen or "default")
        d.mkdir()
        r = proteus("obfuscate", model, "-o", d / "b", "--key", d / "k", *opts, "--json",
                    *(("--sentinels", gen) if gen else ()))
        assert json.loads(r.stdout)["sentinels"] == (gen or "learned")
        assert ("random' sentinel generator is a baseline" in r.stderr) == (gen == "random"), r.stderr
        buckets[gen] = bucket_bytes(d / "b")
    assert buckets[None] == buckets["learned"]
    assert buckets[None] != buckets["random"]


def test_random_generator_warns(tmp_path):
    model = mlp(tmp_path / "mlp.onnx")
    r = proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k", "--sentinels", "random", "--json")
    assert json.loads(r.stdout)["sentinels"] == "random"
    assert "random' sentinel generator is a baseline" in r.stderr and "hides little" in r.stderr


def test_default_generator_needs_its_model_file(tmp_path):
    """A binary that finds no learned-generator file (copied away from its
    tree: no Python half, no data/generator beside it) says how to go on
    instead of blaming an option never given; the random baseline still runs."""
    model = mlp(tmp_path / "mlp.onnx")
    exe = tmp_path / "bin" / "proteus"
    exe.parent.mkdir()
    shutil.copy(PROTEUS, exe)
    env = {k: v for k, v in os.environ.items() if k not in ("PROTEUS_PYDIR", "PROTEUS_GENERATOR", "PROTEUS_ROOT")}
    r = subprocess.run([str(exe), "obfuscate", str(model), "-o", str(tmp_path / "b"), "--key", str(tmp_path / "k")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "default sentinel generator (learned)" in r.stderr, r.stderr
    assert "--generator FILE" in r.stderr and "--sentinels random" in r.stderr and "unknown" not in r.stderr
    assert not os.path.exists(tmp_path / "b") and not os.path.exists(tmp_path / "k")
    subprocess.run([str(exe), "obfuscate", str(model), "-o", str(tmp_path / "b"), "--key", str(tmp_path / "k"),
                    "--sentinels", "random", "--no-probe"], check=True, capture_output=True, env=env)


def test_weak_promise_refused(resnet, tmp_path):
    r = proteus("obfuscate", resnet, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 1, "--subgraph-size", 12,
                check=False)
    one_line(r, 1, "promise only", "10^1.5", "--allow-weak")
    nothing_but(tmp_path)
    r = proteus("obfuscate", resnet, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 0, check=False)
    one_line(r, 1, "-k 0 hides nothing", "--allow-weak")
    nothing_but(tmp_path)
    proteus("obfuscate", resnet, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 1, "--subgraph-size", 12,
            "--allow-weak", "--no-probe")
    assert key_view(tmp_path / "k")["k"] == 1
    # without a size, a small model is cut into as many subgraphs as the promise needs
    r = proteus("obfuscate", resnet, "-o", tmp_path / "b2", "--key", tmp_path / "k2", "-k", 1, "--no-probe", "--json")
    assert json.loads(r.stdout)["subgraphs"] >= 20


def test_weightless_refused(tmp_path):
    r = proteus("obfuscate", RESNET, "-o", tmp_path / "b", "--key", tmp_path / "k", check=False)
    one_line(r, 1, RESNET, "no weight data", "--weightless")
    nothing_but(tmp_path)
    proteus("obfuscate", RESNET, "-o", tmp_path / "b", "--key", tmp_path / "k", "--weightless", "--no-probe",
            "-k", 2, "--allow-weak")
    assert (tmp_path / "k").exists()


def test_existing_key_kept_unless_force(resnet, tmp_path):
    args = ["-k", 2, "--allow-weak", "--no-probe"]
    proteus("obfuscate", resnet, "-o", tmp_path / "b1", "--key", tmp_path / "k", *args)
    before = (tmp_path / "k").read_bytes()
    r = proteus("obfuscate", resnet, "-o", tmp_path / "b2", "--key", tmp_path / "k", *args, check=False)
    one_line(r, 1, tmp_path / "k", "already exists", "--force")
    assert (tmp_path / "k").read_bytes() == before and not (tmp_path / "b2").exists()
    proteus("obfuscate", resnet, "-o", tmp_path / "b2", "--key", tmp_path / "k", *args, "--force")
    assert key_view(tmp_path / "k")["files"] == sorted(f for f in os.listdir(tmp_path / "b2") if f != "manifest.json")


def test_key_never_replaces_the_model(resnet, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(resnet.read_bytes())
    for extra in ([], ["--force"]):
        r = proteus("obfuscate", model, "-o", tmp_path / "b", "--key", model, "-k", 2, "--allow-weak", *extra,
                    check=False)
        one_line(r, 1, model, "the key path is the input model")
        assert model.read_bytes() == resnet.read_bytes()
    nothing_but(tmp_path, "m.onnx")


def test_interrupt_leaves_nothing(resnet, tmp_path):
    """SIGINT or SIGTERM mid-run: exit 130, one line, no bucket, no key, no
    hidden temporaries."""
    interrupted = 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        d = tmp_path / f"s{int(sig)}"
        d.mkdir()
        p = subprocess.Popen([PROTEUS, "obfuscate", str(resnet), "-o", str(d / "b"), "--key", str(d / "k"),
                              "-k", "6", "--allow-weak"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        # wait until it is writing files (the staging folder appears)
        t0 = time.time()
        while time.time() - t0 < 60 and not any(".stage" in f for f in os.listdir(d)):
            time.sleep(0.02)
        time.sleep(0.3)
        # SIGINT as a terminal sends it: to the whole process group (the
        # Python fingerprinting child included); SIGTERM to proteus alone
        if sig == signal.SIGINT:
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
        out, err = p.communicate(timeout=120)
        if p.returncode == 0:  # finished before the signal landed: nothing to check
            continue
        assert p.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        nothing_but(d)
        interrupted += 1
    assert interrupted >= 1


def test_stale_temporaries_reported(resnet, tmp_path):
    stale = tmp_path / ".b.tmpAbC123"
    stale.mkdir()
    r = proteus("obfuscate", resnet, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak",
                "--no-probe")
    assert str(stale) in r.stderr and "interrupted run" in r.stderr


def _model(tmp_path, name, nodes, inputs, outputs, inits=(), opsets=(("", 17),), functions=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], functions=list(functions))
    m.ir_version = 8
    p = tmp_path / name
    onnx.save(m, p, )
    return p


def _chain(n=6):
    nodes = []
    prev = "x"
    for i in range(n):
        nodes.append(helper.make_node("Relu" if i % 2 else "Neg", [prev], [f"v{i}"]))
        prev = f"v{i}"
    return nodes, prev


def _vi(name, shape=(1, 4)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def test_empty_graph_refused(tmp_path):
    p = _model(tmp_path, "empty.onnx", [], [_vi("x")], [_vi("x")])
    r = proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "--allow-weak", check=False)
    one_line(r, 1, p, "no nodes")
    nothing_but(tmp_path, "empty.onnx")


def test_bad_and_new_opsets(tmp_path):
    nodes, last = _chain()
    p = _model(tmp_path, "neg.onnx", nodes, [_vi("x")], [_vi(last)], opsets=(("", -5),))
    r = proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "--allow-weak", check=False)
    one_line(r, 1, "opset import 'ai.onnx' has version -5")
    assert not (tmp_path / "k").exists()
    p = _model(tmp_path, "new.onnx", nodes, [_vi("x")], [_vi(last)], opsets=(("", 99),))
    r = proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "--allow-weak", "--no-probe", "-k", 2)
    assert "opset 99 is newer than proteus knows" in r.stderr


def test_unknown_op_reported(tmp_path):
    nodes, last = _chain()
    nodes.append(helper.make_node("FrobnicateX", [last], ["y"]))
    p = _model(tmp_path, "unk.onnx", nodes, [_vi("x")], [_vi("y")])
    r = proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "--allow-weak", "--no-probe", "-k", 2)
    assert "no shape rules for (first: FrobnicateX)" in r.stderr


def test_local_functions_inlined(tmp_path):
    """Model-local functions (as torch's dynamo exporter writes them) are
    inlined: calls become the functions' nodes (nested calls and attribute
    references resolved); no function name or domain reaches the bucket, and
    the reassembled model computes what the original does."""
    import onnxruntime as ort
    twice = helper.make_function("my.secretdomain", "SecretTwice", ["a"], ["b"],
                                 [helper.make_node("Add", ["a", "a"], ["secret_sum"]),
                                  helper.make_node("Identity", ["secret_sum"], ["b"])],
                                 [helper.make_opsetid("", 17)])
    leaky = helper.make_node("LeakyRelu", ["u"], ["secret_l"])
    leaky.attribute.append(helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT))
    outer = helper.make_function("my.secretdomain", "SecretBlock", ["u"], ["v"],
                                 [leaky, helper.make_node("SecretTwice", ["secret_l"], ["v"], domain="my.secretdomain")],
                                 [helper.make_opsetid("", 17), helper.make_opsetid("my.secretdomain", 1)],
                                 attributes=["alpha"])
    nodes, last = _chain()
    nodes.append(helper.make_node("SecretBlock", [last], ["y1"], domain="my.secretdomain", alpha=0.3))
    nodes.append(helper.make_node("SecretBlock", ["y1"], ["y"], domain="my.secretdomain", alpha=0.05))
    p = _model(tmp_path, "fn.onnx", nodes, [_vi("x")], [_vi("y")], opsets=(("", 17), ("my.secretdomain", 1)),
               functions=[twice, outer])
    proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "--allow-weak", "-k", 2)
    for f in os.listdir(tmp_path / "b"):
        data = (tmp_path / "b" / f).read_bytes()
        assert b"secret" not in data.lower() and b"Secret" not in data, f
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "ort:all")
    proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k", "-o", tmp_path / "r.onnx")
    x = {"x": np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)}
    want = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, x)[0]
    got = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"]).run(None, x)[0]
    assert np.allclose(want, got, rtol=1e-6, atol=1e-6)
    # roundtrip keeps the functions as they are
    proteus("roundtrip", p, tmp_path / "rt.onnx")
    assert len(onnx.load(tmp_path / "rt.onnx").functions) == 2


def test_empty_initializer_loads(tmp_path):
    """A valid model with an empty initializer (Resize roi=[]: raw_data set
    and empty) loads and round-trips; ONNX Runtime runs it."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])
    roi = numpy_helper.from_array(np.array([], dtype=np.float32), "roi")
    sc = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    n = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="nearest")
    p = _model(tmp_path, "resize.onnx", [n], [x], [y], inits=[roi, sc], opsets=(("", 13),))
    proteus("roundtrip", p, tmp_path / "rt.onnx")
    onnx.checker.check_model(onnx.load(tmp_path / "rt.onnx"), full_check=True)


def test_wide_node_is_fast(tmp_path):
    """One node with 40,000 inputs: canonical ordering is not quadratic."""
    n_in = 40000
    inits = [numpy_helper.from_array(np.full((1, 4), i, dtype=np.float32), f"c{i}") for i in range(n_in)]
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Concat", ["r"] + [f"c{i}" for i in range(n_in)], ["cc"], axis=0),
             helper.make_node("Relu", ["cc"], ["r2"]), helper.make_node("Neg", ["r2"], ["r3"]),
             helper.make_node("Abs", ["r3"], ["y"])]
    p = _model(tmp_path, "wide.onnx", nodes, [_vi("x")], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
               inits=inits)
    t0 = time.time()
    proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 0, "--allow-weak", "--no-probe")
    assert time.time() - t0 < 20  # was 80 s


def test_unverifiable_parts_refused(tmp_path):
    """A real subgraph that cannot run in ONNX Runtime on sample inputs (here
    an op of a custom domain with no kernel) cannot be fingerprinted:
    obfuscate refuses unless --allow-unverified (it used to warn among
    ONNX Runtime's logs)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), f"w{i}") for i in range(3)]
    nodes, prev = [], "x"
    for i in range(3):
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"r{i}"])]
        prev = f"r{i}"
    nodes.append(helper.make_node("Frob", [prev], ["y"], domain="com.example"))
    p = _model(tmp_path, "custom.onnx", nodes, [_vi("x", (1, 8))], [_vi("y", (1, 8))], inits=inits,
               opsets=(("", 17), ("com.example", 1)))
    r = proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak", "-n", 3,
                check=False)
    assert r.returncode == 1, r.stderr
    assert "could not be fingerprinted" in r.stderr and "--allow-unverified" in r.stderr
    assert "Traceback" not in r.stderr and "onnxruntime" not in r.stderr  # no ONNX Runtime log lines
    nothing_but(tmp_path, "custom.onnx")
    proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak", "-n", 3,
            "--allow-unverified")
    assert (tmp_path / "k").exists()


def test_progress_on_a_terminal_only(resnet, tmp_path):
    """obfuscate used to be silent for 30+ s: on a terminal it shows which
    stage it is in; piped, stderr stays clean."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([PROTEUS, "obfuscate", str(resnet), "-o", str(tmp_path / "b"), "--key", str(tmp_path / "k"),
                          "-k", "2", "--allow-weak", "--no-probe"], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=120)
    os.close(master)
    assert p.returncode == 0
    assert b"writing files" in b"".join(chunks)
    r = proteus("obfuscate", resnet, "-o", tmp_path / "b2", "--key", tmp_path / "k2", "-k", 2, "--allow-weak",
                "--no-probe")
    assert "writing files" not in r.stderr
