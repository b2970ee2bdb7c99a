# tls-newconn by hand: wrk's and the backend's CPU per request behind each target, alternated.
import subprocess, resource, re, sys, glob, time, json
targets = {"nginx2": 28102, "nginx1": 28202, "edgeway": 28402}
def pid_of(port):
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(re.search(r"pid=(\d+)", out).group(1))
def cpu_ns(pid):
    t = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try: t += int(open(f).read().split()[0])
        except OSError: pass
    return t
backend = pid_of(28001)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
res = []
for r in range(rounds):
    order = list(targets.items())
    order = order[r % 3:] + order[:r % 3]
    for name, port in order:
        proxy = pid_of(port)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b0, p0, t0 = cpu_ns(backend), cpu_ns(proxy), time.time()
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c64", "-d8s", "--latency", "-H", "Connection: close",
                              f"https://localhost:{port}/"], capture_output=True, text=True).stdout
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b1, p1, t1 = cpu_ns(backend), cpu_ns(proxy), time.time()
        n = int(re.search(r"(\d+) requests in", out).group(1))
        p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out)
        p99ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
        wrk_us = ((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)) * 1e6 / n
        wrk_sys_us = (ru1.ru_stime - ru0.ru_stime) * 1e6 / n
        rec = dict(round=r, target=name, rps=n / 8, p99=p99ms, wrk_us=wrk_us, wrk_sys_us=wrk_sys_us, backend_us=(b1 - b0) / 1e3 / n,
                   proxy_cpu=(p1 - p0) / 1e9 / (t1 - t0))
        res.append(rec)
        print(json.dumps(rec), flush=True)
        time.sleep(2)
