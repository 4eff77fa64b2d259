"""Bucket files sized like their real subgraphs (issue 11): in a bucket of a
model with trained weights, a file's byte size must not tell which file of
its group is real.  The learned generator draws each sentinel's node count
and weight elements together from one of the model's real subgraphs
(src/sentinel/learned_size.c); before it did, the real file was the
smallest of its group about twice as often as chance and a sentinel could
weigh thousands of times its real file (bench/size_leak.py,
docs/benchmarks.md "Sentinel sizes")."""
import os
import sys

from conftest import ROOT, key_view
from test_sentinel_learned import obfuscate, realworld

sys.path.insert(0, os.path.join(ROOT, "bench"))
from size_leak import group_sizes, leak  # noqa: E402


def test_file_sizes_do_not_tell_the_real(scratch):
    # trained weights, weights as Constant nodes, 28 subgraphs: enough groups to measure at k=4
    bucket, key = obfuscate(realworld("ppocrv4-det"), str(scratch), 4, "--no-probe")
    r = leak(group_sizes(bucket, key_view(key)))
    assert r["groups"] >= 20, r
    # reals neither smaller nor larger than their sentinels: bytes over the group's median
    # separate nothing (0.5), and the real's size rank in its group averages the middle
    assert 0.35 <= r["auc_bytes"] <= 0.65, r
    assert 0.35 <= r["rank_mean"] <= 0.65, r
    # sentinels sized within the spread of the model's own subgraphs
    assert r["ratio_max"] <= r["reals_span"] and 1 / r["ratio_min"] <= r["reals_span"], r
