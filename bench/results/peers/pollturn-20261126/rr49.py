import re,sys,json,math,glob,statistics as st
rows={}
for l in open(sys.argv[1]):
    if not l.startswith('round'): continue
    f=l.split(); r=int(f[1]); n=f[2]
    d=dict(kv.split('=',1) for kv in f[3:] if '=' in kv and not kv.startswith('probe'))
    pr=dict(kv.split('=') for kv in l.split('probe=')[1].strip().split(','))
    ms=lambda s: float(s[:-2])/1000 if s.endswith('us') else float(s[:-2]) if s.endswith('ms') else float(s[:-1])*1000
    rows.setdefault(r,{})[n]=dict(rps=float(d['rps']),cpu=float(d['cpu_us']),p50=ms(d['wrk_p50']),p99=ms(d['wrk_p99']),pp50=float(pr['p50']),pp99=float(pr['p99']),ap50=float(pr['after_p50']),ap99=float(pr['after_p99']))
a,b=sys.argv[2],sys.argv[3]
for k in ['rps','cpu','p50','p99','pp50','pp99','ap50','ap99']:
    rs=[rows[r][b][k]/rows[r][a][k] for r in rows if a in rows[r] and b in rows[r] and rows[r][a][k]>0 and rows[r][b][k]>0]
    if not rs: continue
    print(f"{b}/{a} {k:5s} median {st.median(rs):.3f}  lower in {sum(x<1 for x in rs)} of {len(rs)}")
# pooled probe
tag=sys.argv[4] if len(sys.argv)>4 else None
if tag:
    for n in (a,b,'ngx'):
        t=[];h=[]
        for fn in glob.glob(f'pr-{tag}-*-{n}.json'):
            d=json.load(open(fn)); t+=d.get('totals_us',[]); h+=d.get('handshakes_us',[])
        aft=sorted(x-y for x,y in zip(t,h)); t=sorted(t); h=sorted(h)
        q=lambda v,p: v[max(0,math.ceil(len(v)*p)-1)]/1000 if v else 0
        print(f"pooled {n:4s} n={len(t)} total p50 {q(t,.5):.2f} p90 {q(t,.9):.2f} p99 {q(t,.99):.2f} | hs p99 {q(h,.99):.2f} | after p50 {q(aft,.5):.2f} p90 {q(aft,.9):.2f} p99 {q(aft,.99):.2f}")
