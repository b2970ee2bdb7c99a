import sys
for f in sys.argv[1:]:
    c=sorted(int(l.split('\t')[0])+int(l.split('\t')[2]) for l in open(f))
    g=[b-a for a,b in zip(c,c[1:])]
    dur=(c[-1]-c[0])/1e6
    out=[]
    for th in (200,300,500,1000,2000,5000):
        big=[x for x in g if x>=th]
        out.append(f">={th}us:{len(big)/dur:6.1f}/s {sum(big)/1e3/dur:5.1f}ms/s")
    print(f"{f.split('/')[-1]:16s}", " ".join(out))
