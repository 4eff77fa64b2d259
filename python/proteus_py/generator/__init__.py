"""The learned sentinel generator's training half (issue 11, point 1).

`proteus train-generator DIR... -o FILE` harvests real subgraphs cut the way
`obfuscate` cuts (`proteus partition`), counts how real ONNX structure is
built (op transitions from the inputs, operand choice, attributes per op,
channel counts, subgraph sizes) and writes the counts as a small text file
(.pxg) that the C sampler (src/sentinel/learned.c) reads.  Obfuscation never
runs this: the file ships in data/generator/.
"""
