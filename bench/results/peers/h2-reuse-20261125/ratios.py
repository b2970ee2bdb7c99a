# medians of the per-round ratios of an ab.sh three-way file: python3 ratios.py e3-reuse-3way.txt
import re,sys,statistics as st
rows={}
for l in open(sys.argv[1]):
    m=re.match(r'round (\d+) (\w+) rps=([\d.]+) p50=([\d.]+)ms p90=([\d.]+)ms p99=([\d.]+)ms cpu_us=([\d.]+)',l)
    if m:
        r,n=int(m.group(1)),m.group(2); rows.setdefault(r,{})[n]=[float(x) for x in m.groups()[2:]]
for a,b in (('new','old'),('new','hap'),('old','hap')):
    rat=[[rows[r][a][i]/rows[r][b][i] for i in range(5)] for r in rows if a in rows[r] and b in rows[r]]
    if not rat: continue
    med=[st.median(x[i] for x in rat) for i in range(5)]
    better=sum(1 for x in rat if x[3]<=1); more=sum(1 for x in rat if x[0]>=1)
    print(f"{a}/{b}: rps {med[0]:.3f} ({more} of {len(rat)} >=1) p50 {med[1]:.3f} p90 {med[2]:.3f} p99 {med[3]:.3f} ({better} of {len(rat)} <=1) cpu/req {med[4]:.3f}")
