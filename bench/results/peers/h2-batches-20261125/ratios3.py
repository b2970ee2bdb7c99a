import sys,re,statistics as st
rows={}
for l in open(sys.argv[1]):
    m=re.match(r'round (\d+) (\w+) rps=([\d.]+),? p50=([\d.]+)(us|ms) p90=([\d.]+)(us|ms) p99=([\d.]+)(us|ms) cpu_us=([\d.]+)',l)
    if not m: continue
    f=lambda v,u: float(v)/(1000 if u=='us' else 1)
    rows.setdefault(m.group(1),{})[m.group(2)]=(float(m.group(3)),f(m.group(4),m.group(5)),f(m.group(6),m.group(7)),f(m.group(8),m.group(9)),float(m.group(10)))
ref=sys.argv[2]
for other in sys.argv[3:]:
    agg=[[] for _ in range(5)]
    for r,d in rows.items():
        if ref in d and other in d:
            for i in range(5): agg[i].append(d[other][i]/d[ref][i])
    print('%s/%s medians: rps %.3f p50 %.3f p90 %.3f p99 %.3f cpu %.3f (n=%d; rps>=1 in %d, p99<=1 in %d)'%((other,ref)+tuple(st.median(a) for a in agg)+(len(agg[0]),sum(x>=1 for x in agg[0]),sum(x<=1 for x in agg[3]))))
