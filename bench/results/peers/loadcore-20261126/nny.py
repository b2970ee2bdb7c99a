# HTTP/1.1 and the split by hand: nginx, edgeway as built (A, EW_NNY=0) and without the yield
# before the next request's read (B, EW_NNY=1), alternated round by round, wrk -t1 -c64 -d6s.
import subprocess, re, sys, glob, time, json
targets = {"nginx": 28100, "A": 28400, "B": 28500}
def pid_of(port):
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(re.search(r"pid=(\d+)", out).group(1))
def cpu_ns(pid):
    t = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try: t += int(open(f).read().split()[0])
        except OSError: pass
    return t
def ms(v, u): return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
rounds = int(sys.argv[1])
for r in range(rounds):
    order = list(targets.items())
    order = order[r % 3:] + order[:r % 3]
    for scen, off in (("http1", 0), ("split", 1)):
        for name, port in order:
            port += off
            proxy = pid_of(port)
            p0, t0 = cpu_ns(proxy), time.time()
            out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c64", "-d6s", "--latency", f"http://127.0.0.1:{port}/"],
                                 capture_output=True, text=True).stdout
            p1, t1 = cpu_ns(proxy), time.time()
            n = int(re.search(r"(\d+) requests in", out).group(1))
            p50 = re.search(r"50%\s+([0-9.]+)(us|ms|s)", out); p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out)
            print(json.dumps(dict(round=r, scen=scen, target=name, rps=n / 6, p50=ms(*p50.groups()), p99=ms(*p99.groups()),
                                  cpu_us=(p1 - p0) / 1e3 / n)), flush=True)
            time.sleep(1)
