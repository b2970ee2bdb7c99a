done = function(summary, latency, requests)
  io.write(string.format("PCT p50=%.3f p90=%.3f p99=%.3f p995=%.3f p999=%.3f max=%.3f n=%d\n",
    latency:percentile(50)/1000, latency:percentile(90)/1000, latency:percentile(99)/1000,
    latency:percentile(99.5)/1000, latency:percentile(99.9)/1000, latency.max/1000, summary.requests))
end
