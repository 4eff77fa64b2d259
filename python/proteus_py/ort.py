"""Running models in ONNX Runtime the way proteus compares them.

ONNX Runtime's own log never reaches the terminal: the default logger is
set to errors only, and sessions to fatal only (at "error", a failed run
is also logged, in colour, before it is raised as the exception that
proteus turns into its one-line message)."""
import onnxruntime as ort

# errors only for the default logger; sessions: fatal only (see above)
LOG_SEVERITY_DEFAULT = 3
LOG_SEVERITY_SESSION = 4
ort.set_default_logger_severity(LOG_SEVERITY_DEFAULT)


def session(path, level="disabled", threads=2, optimized_path=None, spin=True):
    """spin=False: idle intra-op threads sleep instead of spinning (timings
    that interleave several sessions, bench/retention.py)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = LOG_SEVERITY_SESSION
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run(path, feeds, level="disabled", threads=2):
    """Returns (output names, list of arrays)."""
    s = session(path, level, threads)
    names = [o.name for o in s.get_outputs()]
    return names, s.run(names, feeds)
