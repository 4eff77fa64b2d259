"""Python side of proteus: the parts that need ONNX Runtime or onnx (running
models, optimizer drivers, verification).  The C tool calls these; tests
import them."""
