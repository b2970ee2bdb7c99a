import sys,re,statistics as st
for f in sys.argv[1:]:
    R={}
    for l in open(f):
        m=re.match(r'round (\d+) (\w+)\(\w+\) rps=([\d.]+) cpu_us=([\d.]+) PCT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) p995=([\d.]+) p999=([\d.]+)',l)
        if m: R.setdefault(int(m[1]),{})[m[2]]=[float(x) for x in m.groups()[2:]]
    names=['rps','cpu','p50','p90','p99','p995','p999']
    for a,b in (('hap','fresh'),('hap','aged'),('fresh','aged')):
        out=[]
        for i,n in enumerate(names):
            rs=[R[r][b][i]/R[r][a][i] for r in R if a in R[r] and b in R[r]]
            out.append('%s %.3f(%d<1)'%(n,st.median(rs),sum(x<1 for x in rs)))
        print(f, '%s/%s %d:'%(b,a,len(rs)),' '.join(out))
