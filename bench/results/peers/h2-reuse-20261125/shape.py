import sys,glob,statistics as st
P=[90,99,99.5,99.9]
tag=sys.argv[1]
for name in sys.argv[2:]:
    rows=[]
    for f in sorted(glob.glob(f"logs/{tag}-{name}-r*.log")):
        lat=sorted(int(l.split('\t')[2]) for l in open(f)); n=len(lat)
        p50=lat[n//2]; rows.append([lat[int(n*p/100)]/p50 for p in P])
    print(name, len(rows), " ".join(f"p{p}/p50 med {st.median(r[i] for r in rows):.2f}" for i,p in enumerate(P)))
