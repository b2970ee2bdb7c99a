import sys,re,statistics as st
rows={}
for l in sys.stdin:
    m=re.match(r'round (\d+) (\w+) rps=([\d.]+),? p50=([\d.]+)(us|ms) p90=([\d.]+)(us|ms) p99=([\d.]+)(us|ms) cpu_us=([\d.]+)',l)
    if not m: print(l.strip()); continue
    r,n=m.group(1),m.group(2)
    f=lambda v,u: float(v)/(1000 if u=='us' else 1)
    rows.setdefault(r,{})[n]=(float(m.group(3)),f(m.group(4),m.group(5)),f(m.group(6),m.group(7)),f(m.group(8),m.group(9)),float(m.group(10)))
keys=('rps','p50','p90','p99','cpu')
agg={k:[] for k in keys}
for r,d in rows.items():
    if 'old' not in d or 'new' not in d: continue
    o,n=d['old'],d['new']
    q=[n[i]/o[i] for i in range(5)]
    for k,v in zip(keys,q): agg[k].append(v)
    print(r,'rps %.3f p50 %.2f p90 %.2f p99 %.2f cpu %.3f'%tuple(q), '| old %.0f %.2f/%.2f/%.2f %.2fus new %.0f %.2f/%.2f/%.2f %.2fus'%(o+n))
print('median new/old:', ' '.join('%s %.3f'%(k,st.median(v)) for k,v in agg.items()), '| cpu lower in %d of %d, rps higher in %d'%(sum(v<1 for v in agg['cpu']),len(agg['cpu']),sum(v>1 for v in agg['rps'])))
