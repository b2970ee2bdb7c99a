import sys,re,glob,json
# per request: requests = the backend's count in the perf stat window
for d in sys.argv[1:]:
    w=open(d+'/window.txt').read()
    m=re.search(r'before (\{.*?\}) after (\{.*?\}) cpu ticks (\d+) -> (\d+)',w)
    b,a=json.loads(m.group(1)),json.loads(m.group(2))
    req=sum(a[k]-b[k] for k in a if isinstance(a[k],(int,float)))
    ticks=int(m.group(4))-int(m.group(3))
    c={}
    for line in open(d+'/perfstat.txt'):
        p=line.strip().split(',')
        if len(p)>3 and p[0].isdigit():
            name=p[2]
            if name in c: name=name+'#eagain'
            c[name]=int(p[0])
    g=lambda k: c.get('syscalls:sys_enter_'+k,0)/req
    ea=(c.get('syscalls:sys_exit_read',0)+c.get('syscalls:sys_exit_recvfrom',0)+c.get('syscalls:sys_exit_splice',0))/req
    st=[l.split() for l in open(d+'/vmstat.txt').read().splitlines()[3:]]
    steal=sum(int(x[-1]) for x in st)/max(len(st),1)
    summ=glob.glob(d+'/*/summary.md')
    row=''
    if summ:
        for l in open(summ[0]):
            if l.startswith('| ') and ('edgeway |' in l or 'nginx |' in l or 'haproxy |' in l) and 'best' not in l: row=l.strip(); break
    probe=''
    if 'edgeway' in row and c.get('syscalls:sys_enter_recvfrom',0)>0:
        pr=c['syscalls:sys_enter_recvfrom']
        probe=f"\n    per probe recvfrom (edgeway's HTTP/1.1 upstream exchange makes exactly one per request): all {c['raw_syscalls:sys_enter']/pr:.2f} read {c['syscalls:sys_enter_read']/pr:.2f} write {c['syscalls:sys_enter_write']/pr:.2f} EAGAIN reads {c.get('syscalls:sys_exit_read',0)/pr:.2f}"
    print(f"{d.split('/')[-1]:28s} req {req:7d} cpu/req {ticks*10000/req:5.1f}us all {c['raw_syscalls:sys_enter']/req:.2f} read {g('read'):.2f} write {g('write'):.2f} recvfrom {g('recvfrom'):.2f} sendto {g('sendto'):.2f} splice {g('splice'):.2f} EAGAIN {ea:.2f} epoll {g('epoll_pwait')+g('epoll_wait'):.3f} futex {g('futex'):.3f} nanosleep {g('nanosleep'):.3f} cs {c.get('context-switches',0)/req:.3f} steal {steal:.1f}\n    {row}{probe}")
