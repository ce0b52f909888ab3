#!/bin/bash
# `[global] stats = PATH`: after known traffic through an accept rule, the
# file parses with a Prometheus text-format parser (Debian's
# python3-prometheus-client) and its counters equal what was done: 5
# handshakes (curl), 2 failed ones (wait_port's probe, which connects and
# closes: peer_closed; a plaintext client: alert_sent), the
# plaintext bytes each way as curl counted them, the histogram's count, and
# no connection left active. `%p` in the path is the server's pid.
. "$(dirname "$0")/lib.sh"
e2e_require curl python3
# the Debian package installs for the system's python
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
"$PY" -c "import prometheus_client.parser" 2>/dev/null || missing_tool python3-prometheus-client

T=$E2E_TMP
mkdir -p "$T/www" && head -c 3000 /dev/urandom | base64 >"$T/www/page.txt"
PORT=$(free_port)
write_policy "$T/p.ini" "[global]" "log_level = info" "log = $T/shim.log" "stats = $T/stats-%p.prom" "" \
    "[web]" "direction = accept" "match = 127.0.0.1:$PORT" "certfile = $PKI/server.pem" \
    "keyfile = $PKI/server.key"
e2e_bg "$T/srv.out" timeout 60 "$TLSSHIM" -c "$T/p.ini" \
    python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PORT"
SRV=$E2E_BG_PID
wait_port "$PORT" || fail setup "the server did not start: $(tail -3 "$T/srv.out")"

# five requests, each on its own connection; curl counts the bytes it sent
# (the request) and received (headers + body): the plaintext each way
sent=0 got=0 ok=0
for i in 1 2 3 4 5; do
    r=$(curl -sS -m 10 --cacert "$PKI/ca.pem" -o /dev/null -w '%{size_request} %{size_header} %{size_download}' \
        "https://localhost:$PORT/page.txt" 2>>"$T/curl.err") || continue
    read -r rq hd dl <<<"$r"
    sent=$((sent + rq)) got=$((got + hd + dl)) ok=$((ok + 1))
done
curl -s -m 5 "http://127.0.0.1:$PORT/page.txt" >/dev/null 2>&1 # plaintext: refused
sleep 2                                                        # one write a second at most

# %p: the pid of the process that keeps the file, python's (not timeout's or the launcher's)
PID=$(pgrep -f "^[^ ]*python3[^ ]* -m http.server --bind 127.0.0.1 --directory $T/www" | head -1)
F=$T/stats-$PID.prom
cat >"$T/check.py" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
want = {k: float(v) for k, v in (a.rsplit("=", 1) for a in sys.argv[2:])}
vals = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        if s.labels.get("rule") != "web":
            continue
        key = s.name + "".join("," + k + "=" + v for k, v in sorted(s.labels.items()) if k != "rule")
        vals[key] = s.value
bad = ["%s=%s (want %s)" % (k, vals.get(k), v) for k, v in want.items() if vals.get(k) != v]
print("ok" if not bad else "MISMATCH " + "; ".join(bad))
EOF
if [ "$ok" != 5 ]; then
    fail stats_counters_equal_the_traffic "only $ok of 5 requests went through: $(tail -2 "$T/curl.err")"
elif [ ! -s "$F" ]; then
    fail stats_counters_equal_the_traffic "no stats file $F (pid $PID): $(ls "$T"; tail -3 "$T/shim.log")"
else
    res=$("$PY" "$T/check.py" "$F" \
        tlsshim_connections_opened_total=7 tlsshim_connections_active=0 \
        tlsshim_handshakes_total=5 tlsshim_handshakes_failed_total,reason=alert_sent=1 \
        tlsshim_handshakes_failed_total,reason=peer_closed=1 \
        tlsshim_handshakes_failed_total,reason=timeout=0 \
        tlsshim_bytes_total,direction=from_peer=$sent tlsshim_bytes_total,direction=to_peer=$got \
        tlsshim_handshake_seconds_count=5 tlsshim_handshake_seconds_bucket,le=+Inf=5 2>&1)
    if [ "$res" = ok ]; then
        pass "stats_counters_equal_the_traffic (7 connections, 5 handshakes, 1 alert_sent, 1 peer_closed, $sent bytes in, $got out)"
    else
        fail stats_counters_equal_the_traffic "$res"
    fi
fi
# the file is replaced whole (rename), never left as a .tmp
if [ -e "$F.tmp" ]; then
    fail stats_file_replaced_atomically "$F.tmp was left behind"
else
    pass stats_file_replaced_atomically
fi
e2e_kill "$SRV"
e2e_done
