import sys,re,statistics as st
# B over A per round, in tn.sh outputs
allr={k:[] for k in ('rps','p50','p90','p99','p995','p999','proxy_us')}
for f in sys.argv[1:]:
    R={}
    for l in open(f):
        if not l.startswith('round'): continue
        w=l.split(); r,n=w[1],w[2]
        d=dict(x.split('=') for x in w[3:] if '=' in x)
        R.setdefault(r,{})[n]=d
    for r in R:
        if 'A' in R[r] and 'B' in R[r]:
            for k in allr: allr[k].append(float(R[r]['B'][k])/float(R[r]['A'][k]))
n=len(allr['rps'])
print('B/A over %d rounds:'%n, ' '.join('%s %.3f (%d<1)'%(k,st.median(v),sum(x<1 for x in v)) for k,v in allr.items()))
print('geometric means:', ' '.join('%s %.3f'%(k,st.geometric_mean(v)) for k,v in allr.items()))
