"""Learned sentinels use Pad and Resize as the model's own parts do (issue
11): before, the generator's op table had neither, so a file holding one
was a real part by that alone (densenets and inception pad before an
AveragePool, FPN detection heads upsample by 2).  Each op is drawn only
where the model writes it: other models' sentinels never hold it.

The first two tests fail on the generator before these ops (267643b):
no sentinel held a Pad or a Resize."""
import os

import onnx
import onnxruntime as ort
import pytest

from conftest import ROOT, proteus
from proteus_py.inputs import make_inputs
from test_sentinel_style import obfuscate  # learned, --seed 7, --no-probe: (bucket, key view)

MODELS = os.path.join(ROOT, "corpus", "models")
REALWORLD = os.path.join(ROOT, "build", "realworld")
NEW_OPS = {"Pad", "Resize", "Squeeze"}


def files(bucket, view):
    """[(is_real, path)] over every group."""
    return [(f == g["real"], os.path.join(bucket, f)) for g in view["groups"] for f in [g["real"], *g["sentinels"]]]


def ops(path):
    return {n.op_type for n in onnx.load(path, load_external_data=False).graph.node}


def check_runs(path):
    """onnx.checker's full check, and ONNX Runtime loads and runs it."""
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    sess.run(None, make_inputs(path, seed=1))


def share_with(op, fs):
    """(reals holding op, reals), (sentinels holding it, sentinels)."""
    reals = [p for real, p in fs if real]
    sents = [p for real, p in fs if not real]
    return (sum(op in ops(p) for p in reals), len(reals)), (sum(op in ops(p) for p in sents), len(sents))


def test_resize_in_sentinels_like_model(scratch):
    """ppocrv4-det (a Paddle FPN head, opset 12, symbolic H and W): some
    sentinels upsample with Resize as its real parts do (nearest, scales
    after an empty roi, written as Constants like the model's), and every
    sentinel holding one passes the checker and runs in ONNX Runtime."""
    src = os.path.join(REALWORLD, "ppocrv4-det.onnx")
    if not os.path.exists(src):
        pytest.skip(f"{src} is not fetched (corpus/realworld/fetch.py)")
    bucket, view = obfuscate(src, str(scratch), 3)
    fs = files(bucket, view)
    (r, nr), (s, ns) = share_with("Resize", fs)
    assert r > 0, "precondition: some real parts upsample"
    assert s > 0, f"no sentinel of {ns} holds a Resize ({r} of {nr} real parts do)"
    for real, p in fs:
        if not real and "Resize" in ops(p):
            check_runs(p)
            m = onnx.load(p, load_external_data=False)
            for n in (n for n in m.graph.node if n.op_type == "Resize"):
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                assert attrs["mode"] == b"nearest" and len(n.input) == 3, (p, attrs, list(n.input))


def test_pad_in_sentinels_like_model(scratch):
    """inception_v3 (torch, opset 17: a constant-mode Pad of 1 before an
    AveragePool): some sentinels pad too, by the model's own pads, and
    every sentinel holding a Pad passes the checker and runs."""
    model = os.path.join(str(scratch), "model.onnx")
    proteus("rehydrate", os.path.join(MODELS, "inception_v3-op17.onnx"), model, "--seed", 2)
    bucket, view = obfuscate(model, os.path.join(str(scratch), "o"), 2)
    fs = files(bucket, view)
    (r, nr), (s, ns) = share_with("Pad", fs)
    assert r > 0, "precondition: some real parts pad"
    assert s > 0, f"no sentinel of {ns} holds a Pad ({r} of {nr} real parts do)"
    by_model = 0
    for real, p in fs:
        if not real and "Pad" in ops(p):
            check_runs(p)
            m = onnx.load(p, load_external_data=False)
            consts = {n.output[0]: n.attribute[0].t for n in m.graph.node if n.op_type == "Constant"}
            consts.update({t.name: t for t in m.graph.initializer})
            for n in (n for n in m.graph.node if n.op_type == "Pad"):
                pads = onnx.numpy_helper.to_array(consts[n.input[1]]).tolist()
                assert pads[:2] == pads[4:6] == [0, 0] and pads[2] == pads[3] == pads[6] == pads[7], (p, pads)
                by_model += pads[2] == 1
    assert by_model > 0, "no sentinel pads by the model's own pads (1)"


def test_new_ops_only_where_model_writes_them(scratch):
    """mobilenet_v2 writes no Pad, Resize or Squeeze: neither do its sentinels."""
    bucket, view = obfuscate(os.path.join(MODELS, "mobilenet_v2-op17.onnx"), str(scratch), 2, "--weightless")
    held = {p: ops(p) & NEW_OPS for real, p in files(bucket, view)}
    assert not any(held.values()), {p: o for p, o in held.items() if o}


def stand_ins(src, base, k):
    """Sentinels the random generator made in the learned one's stead (the
    obfuscate warning's count; 0 without one)."""
    import re
    os.makedirs(base, exist_ok=True)
    r = proteus("obfuscate", src, "-o", os.path.join(base, "bucket"), "--key", os.path.join(base, "key"), "-k", k,
                "--no-probe", "--allow-weak", "--weightless", "--seed", 7)
    m = re.search(r"(\d+) of (\d+) sentinels came from the random generator", r.stderr)
    return int(m.group(1)) if m else 0


def test_layout_ops_reach_outputs(scratch):
    """An output that is its input upsampled (ddddocr-det's FPN: 26x26 ->
    52x52) or padded (inception: 35x35 -> 37x37) is reached through the
    model's own Resize or Pad (bridge ops): before, no draw fitted such an
    interface and the random generator stood in (ddddocr-det, k=12: 13 and
    11 sentinels on 267643b and 292f6fd, 4 now)."""
    src = os.path.join(REALWORLD, "ddddocr-det.onnx")
    if not os.path.exists(src):
        pytest.skip(f"{src} is not fetched (corpus/realworld/fetch.py)")
    n = stand_ins(src, str(scratch), 12)
    assert n <= 7, f"{n} random stand-ins among 288 sentinels"
