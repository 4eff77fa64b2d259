"""Optimizer drivers: one worker process handles many files.

Protocol (used by `proteus optimize`): the worker reads lines
"IN<TAB>OUT" from stdin, optimizes IN into OUT (written under a temporary
name and renamed), and answers one line per file: "ok" or
"error<TAB>message", possibly preceded by "warn<TAB>message" lines (a
warning of the optimizer worth passing on, e.g. ONNX Runtime's note that
ort:all output is tuned to this machine's hardware).  Exits when stdin
closes.  Nothing else is ever written: no traceback, no ONNX Runtime log
(sessions log fatal errors only; errors become the "error" answer).

Usage: python -m proteus_py.driver DRIVER
DRIVER: ort:basic | ort:extended | ort:all | onnxoptimizer | onnxsim | copy
"""
import os
import shutil
import sys

DRIVERS = ("ort:basic", "ort:extended", "ort:all", "onnxoptimizer", "onnxsim", "copy")

# ONNX Runtime's words for the hardware-specific output of ORT_ENABLE_ALL.
_HW_MARK = "hardware specific"


def _tmp(out):
    d, b = os.path.split(out)
    return os.path.join(d, f".{b}.tmp{os.getpid()}")


def _one_line(s, limit=500):
    return " ".join(str(s).split())[:limit]


def _captured_stderr(fn):
    """Runs fn() with file descriptor 2 sent to a temporary file; returns
    (fn's result, what was written there)."""
    import tempfile
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as t:
        os.dup2(t.fileno(), 2)
        try:
            res = fn()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        t.seek(0)
        text = t.read().decode("utf-8", "replace")
    return res, text


def _ort_warning(log):
    """The hardware warning in ONNX Runtime's log text, without its prefix
    and colours, or None."""
    import re
    for line in log.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if _HW_MARK in line:
            msg = line.split("] ", 1)[-1].strip()
            return ("ort:all output is tuned to this machine's hardware; use it only on the same kind of "
                    f"machine, or optimize with ort:extended (ONNX Runtime: {msg})")
    return None


def _ort(level, warn):
    import onnxruntime as ort
    ort.set_default_logger_severity(3)

    lv = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    state = {"warned": level != "all"}

    def run(src, dst):
        so = ort.SessionOptions()
        so.graph_optimization_level = lv
        so.optimized_model_filepath = dst
        so.intra_op_num_threads = 1
        so.log_severity_level = 4  # fatal only: errors are raised, and answered as one line
        if state["warned"]:
            ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        else:
            # warnings on, into a file: the hardware warning is passed on
            # as one line, everything else ONNX Runtime says is dropped
            so.log_severity_level = 2
            _, log = _captured_stderr(lambda: ort.InferenceSession(src, so, providers=["CPUExecutionProvider"]))
            msg = _ort_warning(log)
            if msg:
                warn(msg)
                state["warned"] = True
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


def make(name, warn=lambda msg: None):
    if name.startswith("ort:"):
        return _ort(name[4:], warn)
    return {"onnxoptimizer": _onnxoptimizer, "onnxsim": _onnxsim, "copy": _copy}[name]


def _say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _serve(name):
    def warn(msg):
        _say("warn\t" + _one_line(msg).replace("\t", " "))
    try:
        fn, err = make(name, warn), None
    except Exception as e:  # a missing package is reported per file
        fn, err = None, f"{type(e).__name__}: {e}"
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        src, _, dst = line.partition("\t")
        tmp = _tmp(dst)
        try:
            if fn is None:
                raise RuntimeError(err)
            if not dst:
                raise ValueError("bad request")
            fn(src, tmp)
            os.replace(tmp, dst)
            _say("ok")
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except BaseException as e:  # noqa: BLE001 - every failure is one answer line
            if os.path.exists(tmp):
                os.unlink(tmp)
            text = str(e).strip()
            msg = _one_line(f"{type(e).__name__}: {text}" if text else type(e).__name__)
            _say("error\t" + msg.replace("\t", " "))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def main():
    import warnings
    warnings.simplefilter("ignore")
    import signal

    def _stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)  # proteus stops us: remove the temporary first
    if len(sys.argv) != 2 or sys.argv[1] not in DRIVERS:
        print(f"proteus: driver: usage: python -m proteus_py.driver {{{'|'.join(DRIVERS)}}}", file=sys.stderr)
        return 2
    try:
        _serve(sys.argv[1])
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # proteus went away: nothing is left to answer
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
