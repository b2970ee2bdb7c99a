import sys,re,statistics as st
A,B=sys.argv[2],sys.argv[3]
R={}
for l in open(sys.argv[1]):
    m=re.match(r'round (\d+) (\S+) rps=([\d.]+) cpu_us=([\d.]+) PCT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) p995=([\d.]+) p999=([\d.]+).*wrkcs=([\d.]+),([\d.]+) becs=([\d.]+),([\d.]+)',l)
    if m: R.setdefault(m.group(1),{})[m.group(2)]=[float(x) for x in m.groups()[2:]]
names=['rps','cpu','p50','p90','p99','p995','p999','wrkV','wrkI','beV','beI']
rat=[[R[r][B][i]/R[r][A][i] if R[r][A][i] else 0 for i in range(len(names))] for r in R if A in R[r] and B in R[r]]
print("%s/%s %d: "%(B,A,len(rat))+" ".join("%s %.3f(%d)"%(n,st.median(x[i] for x in rat),sum(x[i]<1 for x in rat)) for i,n in enumerate(names)))
