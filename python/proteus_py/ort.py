"""Running models in ONNX Runtime the way proteus compares them."""
import onnxruntime as ort


def session(path, level="disabled", threads=2, optimized_path=None):
    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run(path, feeds, level="disabled", threads=2):
    """Returns (output names, list of arrays)."""
    s = session(path, level, threads)
    names = [o.name for o in s.get_outputs()]
    return names, s.run(names, feeds)
