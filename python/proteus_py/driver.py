"""Optimizer drivers: one worker process handles many files.

Protocol (used by `proteus optimize`): the worker reads lines
"IN<TAB>OUT" from stdin, optimizes IN into OUT (written under a temporary
name and renamed), and answers one line per file: "ok" or
"error<TAB>message".  Exits when stdin closes.

Usage: python -m proteus_py.driver DRIVER
DRIVER: ort:basic | ort:extended | ort:all | onnxoptimizer | onnxsim | copy
"""
import os
import shutil
import sys

DRIVERS = ("ort:basic", "ort:extended", "ort:all", "onnxoptimizer", "onnxsim", "copy")


def _tmp(out):
    d, b = os.path.split(out)
    return os.path.join(d, f".{b}.tmp{os.getpid()}")


def _ort(level):
    import onnxruntime as ort

    lv = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]

    def run(src, dst):
        so = ort.SessionOptions()
        so.graph_optimization_level = lv
        so.optimized_model_filepath = dst
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        if not os.path.exists(dst):
            raise RuntimeError("ONNX Runtime wrote no optimized model")
    return run


def _onnxoptimizer(src, dst):
    import onnx
    import onnxoptimizer
    m = onnxoptimizer.optimize(onnx.load(src))
    onnx.save(m, dst)


def _onnxsim(src, dst):
    import onnx
    import onnxsim
    m, ok = onnxsim.simplify(onnx.load(src))
    if not ok:
        raise RuntimeError("onnx-simplifier could not validate its result")
    onnx.save(m, dst)


def _copy(src, dst):
    shutil.copyfile(src, dst)


def make(name):
    if name.startswith("ort:"):
        return _ort(name[4:])
    return {"onnxoptimizer": _onnxoptimizer, "onnxsim": _onnxsim, "copy": _copy}[name]


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in DRIVERS:
        print(f"usage: python -m proteus_py.driver {{{'|'.join(DRIVERS)}}}", file=sys.stderr)
        return 2
    try:
        fn = make(sys.argv[1])
    except Exception as e:  # a missing package is reported per file
        fn, err = None, f"{type(e).__name__}: {e}"
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        src, dst = line.split("\t")
        tmp = _tmp(dst)
        try:
            if fn is None:
                raise RuntimeError(err)
            fn(src, tmp)
            os.replace(tmp, dst)
            print("ok", flush=True)
        except Exception as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            msg = f"{type(e).__name__}: {e}".replace("\n", " ").replace("\t", " ")[:500]
            print(f"error\t{msg}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
