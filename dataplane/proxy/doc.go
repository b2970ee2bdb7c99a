// Package proxy is edgeway's data plane: it serves the compiled xDS
// configuration of dataplane/config on real sockets (HTTP/1.1, HTTPS with
// SNI, TLS passthrough, TCP) and swaps configurations atomically.
//
// Decisions worth knowing:
//
//   - One atomic pointer holds the whole runtime state (compiled Config,
//     listeners by socket, upstreams). A connection reads it when accepted,
//     an HTTP request when it starts, and uses that snapshot to the end.
//   - Sockets are keyed by address (port 0: by address and listener name).
//     A listener whose address is unchanged is never rebound; its chains,
//     routes and certificates change under it. New sockets are bound before
//     the swap, so a bind failure NACKs with nothing changed. Removed sockets
//     stop accepting at once and close after in-flight requests finish.
//   - Filter chain selection: with a tls_inspector (or any server_names) the
//     ClientHello is peeked without consuming it. HTTPS-terminating and
//     passthrough chains on one port share a single SNI table with Envoy's
//     precedence: exact name, then the longest "*.suffix", then the chain
//     without server names. Kind does not matter: an exact passthrough name
//     beats a terminating wildcard and vice versa. Among the chains of the
//     winning name, one whose application_protocols lists a protocol the
//     ClientHello offers (only "acme-tls/1": a TLS-ALPN-01 challenge chain)
//     beats the one without, so only ACME validation lands on a challenge
//     chain; it completes the handshake with the validation certificate and
//     closes. Duplicate matches are rejected at compile time, so the choice
//     is always unambiguous. A ClientHello matching no chain is closed.
//   - Keep-alive HTTP connections choose their chain again on each request
//     (by the TLS SNI), so route changes reach them; a request that now
//     lands on a non-HTTP chain gets 421 and the connection closes.
//   - Upstreams (pools, round-robin position, DNS state) survive swaps when
//     their cluster is unchanged; a changed cluster keeps its pool when the
//     connect timeout is the same.
//   - Local replies: no virtual host or route 404, no endpoints or connect
//     failure 503, route timeout 504, other upstream failures 502, a
//     recovered panic 500.
//   - Protocols: HTTP/1.1, HTTP/2 over TLS (ALPN) and h2c with prior
//     knowledge are served by one net/http server per socket; WebSocket
//     upgrades pass when upgrade_configs lists them; clusters with
//     http2_protocol_options use an h2c pool. A TLS request whose host
//     selects another chain than its SNI gets 421 (protocols.go).
//   - Forwarding to HTTP/1.1 clusters is edgeway's own exchange in the
//     request's goroutine (h1exchange.go): a per-endpoint keep-alive pool
//     without goroutines (h1pool.go), the response head parsed into the
//     client's header map (h1head.go), the route timeout as a deadline on
//     the upstream connection. What it leaves to httputil.ReverseProxy and
//     http.Transport is listed there (retries, mirrors, upgrades, HTTP/2
//     clusters, streamed or large request bodies, ...).
//   - Retries, per-try timeouts and mirrors (attempts.go, mirror.go): a
//     body is replayed only with a known Content-Length up to 64 KiB;
//     retries stay within the cluster's retry budget; mirrors never wait
//     for or change the main exchange. CORS preflights: cors.go.
//   - Request body limits (bodylimit.go): counted while streaming, never
//     buffered; a declared Content-Length over the limit is 413 before
//     routing, a streamed body crossing it aborts the upstream request
//     (413, or a stream reset once the response started).
//   - Operations and edge defences: every accepted connection is wrapped
//     once, below TLS (admit.go, conn.go): connection limits, the active
//     connection gauge and the PROXY protocol client address
//     (proxyproto.go). Each request is observed by a ResponseWriter wrapper
//     the router annotates (observe.go: metrics, access log, request id).
//     Limits and timeouts are one Limits value per socket (limits.go), taken
//     from the first HTTP chain when the socket is bound; they change only
//     when it is rebound (net/http cannot change a running server's).
//   - HTTP/2 runs on x/net's server behind a frame-header guard (h2serve.go,
//     h2guard.go): rapid reset, CONTINUATION and PING/SETTINGS floods close
//     the connection. Plain sockets answer 400 at once to bytes that are
//     neither HTTP/1 nor the h2c preface (plainhead.go).
//
// Not (yet) implemented: stream_idle_timeout.
package proxy
