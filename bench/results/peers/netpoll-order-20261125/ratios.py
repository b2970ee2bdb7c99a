import sys,re
rows={}
for l in sys.stdin:
    m=re.match(r'round (\d+) (\w+) rps=([\d.]+),? p50=([\d.]+)(us|ms) p90=([\d.]+)(us|ms) p99=([\d.]+)(us|ms)',l)
    if not m: print(l.strip()); continue
    r,n=m.group(1),m.group(2)
    f=lambda v,u: float(v)/(1000 if u=='us' else 1)
    rows.setdefault(r,{})[n]=(float(m.group(3)),f(m.group(4),m.group(5)),f(m.group(6),m.group(7)),f(m.group(8),m.group(9)))
import statistics as st
agg={k:[] for k in ('rps','p50','p90','p99')}
for r,d in rows.items():
    if 'std' not in d or 'fifo' not in d: continue
    s,f=d['std'],d['fifo']
    q=[f[i]/s[i] for i in range(4)]
    for k,v in zip(agg,q): agg[k].append(v)
    print(r,'rps %.3f p50 %.2f p90 %.2f p99 %.2f'%tuple(q), '| std %.0f %.2f/%.2f/%.2f fifo %.0f %.2f/%.2f/%.2f'%(s+f))
print('median fifo/std:', ' '.join('%s %.3f'%(k,st.median(v)) for k,v in agg.items()), '| p99 lower in %d of %d'%(sum(v<1 for v in agg['p99']),len(agg['p99'])))
