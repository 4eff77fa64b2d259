#!/usr/bin/python3
"""Exports timm architectures to ONNX for the retention benchmark's held-out
set (bench/retention.py timm:NAME).  Nothing is committed: the models are
made here, deterministically, into build/timm/NAME.onnx.

Pinned: timm==1.0.15 (installed with pip --no-deps into build/timm-pylib/ if
it is not importable), against Debian's python3-torch 1.13 and
python3-torchvision 0.14 (scripts/setup installs them); run with Debian's
Python, /usr/bin/python3, which has them.  Weights are timm's random
initialisation under torch.manual_seed(0) (no download: timing does not
depend on trained values); eval mode, batch 1, 3x224x224, opset 17,
constant folding on.

usage: /usr/bin/python3 bench/timm_export.py [NAME ...]   (default: MODELS)
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "timm")
PYLIB = os.path.join(ROOT, "build", "timm-pylib")
TIMM = "timm==1.0.15"
# held out from the fusion work: none of these was looked at while designing it
MODELS = ["ghostnet_100", "rexnet_100", "lcnet_100", "mixnet_s", "dla34", "resnet26d"]


def need_timm():
    sys.path.insert(0, PYLIB)
    try:
        import timm  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", PYLIB, TIMM],
                       check=True)
        import importlib
        importlib.invalidate_caches()
    import timm
    want = TIMM.split("==")[1]
    if timm.__version__ != want:
        raise SystemExit(f"timm_export: timm {timm.__version__} found, {want} pinned (remove {PYLIB} or fix PYTHONPATH)")
    return timm


def main():
    timm = need_timm()
    import torch

    os.makedirs(OUT, exist_ok=True)
    for name in sys.argv[1:] or MODELS:
        path = os.path.join(OUT, name + ".onnx")
        if os.path.exists(path):
            print(f"{name}: {path} (kept)")
            continue
        torch.manual_seed(0)
        m = timm.create_model(name, pretrained=False).eval()
        x = torch.randn(1, 3, 224, 224)
        tmp = path + ".tmp"
        with torch.no_grad():
            torch.onnx.export(m, x, tmp, opset_version=17, input_names=["input"], output_names=["output"],
                              do_constant_folding=True)
        os.replace(tmp, path)
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
