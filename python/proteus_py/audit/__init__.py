"""The confidentiality audit behind `proteus audit`: attacks that try to tell
the real subgraphs of a bucket from its sentinels, each scored by how much
it shrinks the (k+1)^n search space the bucket promises.

The attacks read only the bucket files, the public zoo (the repository's
corpus, obfuscated by the attacker himself with proteus) and the proteus
generator; the owner's key view is used only to score them.

Modules: features (parsing, graph statistics), score (the paper's scoring
rule), zoo (the attacker's reference data, cached under build/audit-cache),
attacks (one attack per threat-model class), gnn / train (the learned
classifier), plots, cli."""
