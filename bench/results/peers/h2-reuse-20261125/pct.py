import sys,glob
P=[50,75,90,95,98,99,99.5,99.9]
def pcts(f):
    lat=sorted(int(l.split('\t')[2]) for l in open(f)); n=len(lat)
    return n,[lat[min(n-1,int(n*p/100))] for p in P]
tag,A,Bn=sys.argv[1],sys.argv[2],sys.argv[3]
for r in range(1,20):
    try: nh,h=pcts(f"logs/{tag}-{A}-r{r}.log"); nn,e=pcts(f"logs/{tag}-{Bn}-r{r}.log")
    except FileNotFoundError: break
    print(f"r{r} n {nn/nh:.3f} ", " ".join(f"p{p}:{b/a:.2f}" for p,a,b in zip(P,h,e)))
