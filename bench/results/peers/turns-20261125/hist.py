import sys,re
def rd(f):
    d={}
    for l in open(f):
        m=re.search(r'le="([^"]+)"\} (\S+)',l)
        if m: d[m[1]]=d.get(m[1],0)+float(m[2])
    return d
a,b=rd(sys.argv[1]),rd(sys.argv[2])
tot=b['+Inf']-a.get('+Inf',0)
print('round',sys.argv[3],sys.argv[4],'n=%d'%tot,' '.join('>%sms=%.4f'%(float(k)*1000, 1-(b[k]-a.get(k,0))/tot) for k in sorted(b,key=lambda k:float(k) if k!='+Inf' else 1e9) if k!='+Inf' and float(k)<=0.016))
