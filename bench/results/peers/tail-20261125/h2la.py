import sys,collections,statistics as st
for f in sys.argv[1:]:
    rows=[l.split() for l in open(f)]
    t=[int(r[0]) for r in rows]; lat=[int(r[2]) for r in rows]
    t0=min(t); s=sorted(lat); n=len(s)
    q=lambda p: s[min(n-1,int(n*p))]
    thr=q(0.99)
    # bin by start time, 1 ms
    B=collections.defaultdict(list)
    for ti,li in zip(t,lat): B[(ti-t0)//1000].append(li)
    med=sorted(st.median(v) for v in B.values())
    slowbins=collections.Counter()
    for b,v in B.items():
        k=sum(1 for x in v if x>thr); slowbins[b]=k
    ks=sorted(slowbins.values(),reverse=True); tot=sum(ks)
    top=sum(ks[:len(ks)//100])  # slow requests in the worst 1% of bins
    nb=len(ks); withslow=sum(1 for k in ks if k>0)
    print("%s n=%d p50=%d p90=%d p99=%d p99.9=%d | 1ms bins=%d, with a >p99 request: %.1f%%, worst 1%% of bins hold %.0f%% of >p99; bin-median p50=%d p99=%d max=%d"%(f,n,q(.5),q(.9),thr,q(.999),nb,100*withslow/nb,100*top/max(tot,1),med[len(med)//2],med[int(len(med)*.99)],med[-1]))
