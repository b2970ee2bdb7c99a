import sys,collections,statistics as st
for f in sys.argv[1:]:
    rows=[l.split() for l in open(f)]
    t=[int(r[0]) for r in rows]; lat=[int(r[2]) for r in rows]
    t0=min(t); s=sorted(lat); n=len(s); thr=s[int(n*.99)]
    B=collections.defaultdict(list)
    for ti,li in zip(t,lat): B[(ti-t0)//1000].append(li)
    bins=sorted(B); p50=s[n//2]
    eps=[]; cur=None
    for b in bins:
        hot = max(B[b])>thr
        if hot:
            if cur and b-cur[1]<=2: cur[1]=b; cur[2]+=sum(1 for x in B[b] if x>thr)
            else:
                cur=[b,b,sum(1 for x in B[b] if x>thr)]; eps.append(cur)
    big=[e for e in eps if e[2]>=20]
    dur=[e[1]-e[0]+1 for e in big]
    print("%s p99=%d: episodes with >=20 slow requests: %d (%.1f/s), holding %.0f%% of >p99; their length ms median %s max %s; all episodes %d"%(f,thr,len(big),len(big)/(len(bins)/1000),100*sum(e[2] for e in big)/max(1,sum(e[2] for e in eps)),st.median(dur) if dur else '-',max(dur) if dur else '-',len(eps)))
