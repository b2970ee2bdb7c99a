import sys
# tail episodes: requests at or above a fixed latency threshold, grouped by completion time (gap < 3 ms)
thr=int(sys.argv[1])
for f in sys.argv[2:]:
    rows=[(int(l.split('\t')[0])+int(l.split('\t')[2]),int(l.split('\t')[2])) for l in open(f)]
    rows.sort(); dur=(rows[-1][0]-rows[0][0])/1e6; n=len(rows)
    slow=[t for t,d in rows if d>=thr]
    cl=[];last=None
    for t in slow:
        if last is None or t-last>3000: cl.append(0)
        cl[-1]+=1; last=t
    big=[c for c in cl if c>=30]
    print(f"{f.split('/')[-1]:14s} n/s={n/dur:7.0f} slow%={100*len(slow)/n:.2f} episodes/s={len(cl)/dur:5.1f} big(>=30)/s={len(big)/dur:4.1f} slow-in-big%={100*sum(big)/max(1,len(slow)):.0f}")
