#!/usr/bin/env python3
"""Per-round ratios of each target over a base target, medians over the rounds.
usage: rr.py FILE BASE [TARGET...]"""
import re, sys, statistics as st
f, base = sys.argv[1], sys.argv[2]
rows = {}
for line in open(f):
    m = re.match(r'round (\d+) (\S+) rps=(\S+) cpu_us=(\S+) PCT (.*)', line)
    if not m: continue
    r, n = int(m[1]), m[2]
    d = {'rps': float(m[3]), 'cpu': float(m[4])}
    for k, v in re.findall(r'(\w+)=([\d.]+)', m[5]): d[k] = float(v)
    rows.setdefault(r, {})[n] = d
names = sys.argv[3:] or sorted({n for r in rows.values() for n in r if n != base})
keys = ['rps', 'cpu', 'p50', 'p90', 'p99', 'p995', 'p999']
print(f"over {base}, median of per-round ratios (lower/higher counts)  rounds={len(rows)}")
for n in names:
    out = []
    for k in keys:
        rs = [rows[r][n][k] / rows[r][base][k] for r in sorted(rows) if n in rows[r] and base in rows[r]]
        out.append(f"{k} {st.median(rs):.3f} ({sum(x<1 for x in rs)}<)")
    print(f"{n:8s} " + "  ".join(out))
