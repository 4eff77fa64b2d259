"""Summarises bench/load_model JSON lines (stdin) as a markdown table."""
import json
import statistics
import sys

name = sys.argv[1]
rows = [json.loads(l) for l in sys.stdin if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["mode"], []).append(r)
fb = rows[0]["file_bytes"]
med = {m: (statistics.median(r["load_ms"] for r in v), statistics.median(r["peak_growth_bytes"] for r in v) / fb)
       for m, v in by.items()}
print(f"model: {name} rehydrated, {fb / 2**20:.1f} MiB on disk (model + external data), "
      f"{rows[0]['nodes']} nodes, {len(by['proteus'])} runs per loader, medians")
print()
print("| loader | load time (ms) | peak memory / file size | time vs naive | memory vs naive |")
print("|---|---|---|---|---|")
for m in ("naive", "proteus"):
    t, mem = med[m]
    print(f"| {m} | {t:.0f} | {mem:.2f}x | {t / med['naive'][0]:.2f} | {mem / med['naive'][1]:.2f} |")
