#!/bin/bash
# File descriptors: an upgraded connection costs the process 3 fds (the
# program's socketpair end, the helper's end, the TCP socket). The shim's two
# live above the program's own RLIMIT_NOFILE when the hard limit leaves room
# (the soft limit is raised by what the shim holds, and the program still
# sees its own), else at the top of the program's range, away from the
# numbers the program's own fds take. A connection refused for want of fds
# is logged with that reason and closed; nothing hangs.
#
#   soft = hard = 200: the shim's fds come out of the program's 200; a
#     python server serves floor((200 - F - 4) / 3) TLS clients, F being the
#     fds it holds below 200 before the first client (the 4: the helper's
#     epoll and eventfd, the spare fd that lets a connection be refused
#     rather than left in the listen queue, and the one transient fd an
#     upgrade needs above the 3 it keeps); the next one is refused in the log.
#   soft 150, hard 300, all 300 used: floor((300 - FALL - 4) / 3) clients,
#     FALL counting every fd the server holds, the shim's log above 150 and
#     inherited ones included. The shim's fds fill the room above 150, then the top of the program's range as its highest free numbers, so
#     the program's own numbers stay dense (highest accepted < F + clients +
#     2); the next client is refused in the log.
#   soft 200, hard higher: the program serves 200 - F clients, exactly what
#     it serves in plaintext without the shim, and sees its limit as 200.
#   redis with 5000 TLS clients at 16384 fds: before, the shim's fds sat at
#     4096 and up, the program's next fds landed above them, past the 10128
#     fds redis's event loop covers, and the 4087th client hung.
#   redis at soft 1024 below a hard 16384, maxclients 2000: redis sets soft =
#     hard = 2032 itself; 1900 TLS clients (before: the shim's fds came out
#     of redis's 2032, a third of it).
#   redis at soft = hard = 1000, maxclients 345: the fds run out at about 330
#     clients and the next is refused in the log (before: the shim's fds sat
#     just above redis's and pushed them past the 473 its event loop covers;
#     the 326th client's PING hung, as the 6,138th did at 20,000 fds).
# Every client has a timeout: a hang is a FAIL, never a stuck suite.
. "$(dirname "$0")/lib.sh"
e2e_require python3
T=$E2E_TMP
HARD=$(ulimit -Hn)

# pong_server PORT: "+PONG" to each "PING", connections kept; prints
# "ready F SOFT ALL" (fds below its soft limit, its limit as it sees it, every
# fd it holds: the shim's log and inherited fds may sit above the soft limit,
# and they take room below the hard one) and
# "accept: ERROR" when accept fails; "MAXFD" is answered with the highest fd
# number accept ever returned and the connections it holds
cat >"$T/pong_server.py" <<'PY'
import os, resource, selectors, socket, sys, time
port = int(sys.argv[1])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(4096)
ls.setblocking(False)
sel = selectors.EpollSelector()
sel.register(ls, selectors.EVENT_READ, None)
hold = []
maxfd = -1
soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
fds = [int(f) for f in os.listdir("/proc/self/fd")]
below = len([f for f in fds if f < soft]) - 1  # listdir's own fd is closed again
print("ready %d %d %d" % (below, soft, len(fds) - 1), flush=True)
while True:
    for key, _ in sel.select(timeout=1):
        if key.data is None:
            try:
                c, _ = ls.accept()
            except OSError as e:
                print("accept: %s" % e.strerror, flush=True)
                time.sleep(0.05)
                continue
            c.setblocking(False)
            maxfd = max(maxfd, c.fileno())
            sel.register(c, selectors.EVENT_READ, b"")
            continue
        c = key.fileobj
        try:
            d = c.recv(100)
        except OSError:
            d = b""
        if not d:
            sel.unregister(c)
            c.close()
        elif b"PING" in d:
            c.send(b"+PONG\r\n")
        elif b"MAXFD" in d:
            c.send(b"+MAXFD %d %d\r\n" % (maxfd, len(sel.get_map()) - 1))
        elif b"FILL" in d:
            # open fds until none is left, as a leaking or busy program would
            n = 0
            try:
                while True:
                    hold.append(os.open("/dev/null", os.O_RDONLY)); n += 1
            except OSError:
                pass
            c.send(b"+FILLED %d\r\n" % n)
PY

# clients PORT N TLS(0|1) TIMEOUT: N clients, one after another, each PINGs once
# and stays open; prints "served K", how the first failing one ended, and
# "maxfd M C" (the server's answer to MAXFD) when it is the pong server
cat >"$T/clients.py" <<'PY'
import socket, ssl, sys
port, n, tls, tmo = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])
ctx = ssl.create_default_context(cafile=sys.argv[5]) if tls else None
keep, served, phase = [], 0, "connect"
for i in range(n):
    try:
        phase = "connect"
        s = socket.create_connection(("127.0.0.1", port), timeout=tmo)
        if tls:
            phase = "handshake"
            s = ctx.wrap_socket(s, server_hostname="localhost")
        phase = "PING"
        s.sendall(b"PING\r\n")
        d = s.recv(100)
        if d != b"+PONG\r\n":
            raise ConnectionError("got %r" % d)
        keep.append(s)
        served += 1
    except (socket.timeout, TimeoutError) as e:
        print("client %d: HANG in %s (%ss timeout)" % (i + 1, phase, tmo))
        break
    except (OSError, ConnectionError, ssl.SSLError) as e:
        print("client %d: closed in %s: %s" % (i + 1, phase, e))
        break
print("served %d" % served, flush=True)
if keep:
    try:
        keep[0].sendall(b"MAXFD\r\n")
        d = keep[0].recv(100)
        if d.startswith(b"+MAXFD "):
            print("maxfd %s" % d[7:].decode().strip())
    except OSError:
        pass
PY

# run_clients PORT N TLS TIMEOUT OUT: the client side gets the whole hard limit
run_clients() {
    (ulimit -Sn "$HARD"; timeout 150 python3 "$T/clients.py" "$1" "$2" "$3" "$4" "$PKI/ca.pem") >"$5" 2>&1
}

# start_server NAME SOFT HARD SHIM(0|1): pong server under limits; sets PORT,
# SPID, F (its fds below the soft limit) and FALL (all its fds)
start_server() {
    local name=$1 soft=$2 hard=$3 shim=$4
    PORT=$(free_port)
    write_policy "$T/$name.ini" "[global]" "log_level = info" "log = $T/$name.shim.log" "" \
        "[pong]" "direction = accept" "match = 127.0.0.1:$PORT" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    : >"$T/$name.shim.log"
    local cmd=(python3 "$T/pong_server.py" "$PORT")
    [ "$shim" = 1 ] && cmd=("$TLSSHIM" -c "$T/$name.ini" -- "${cmd[@]}")
    e2e_bg "$T/$name.out" bash -c 'ulimit -Sn "$1" && ulimit -Hn "$2" && shift 2 && exec timeout 120 "$@"' \
        sh "$soft" "$hard" "${cmd[@]}"
    SPID=$E2E_BG_PID
    F=
    for _ in $(seq 100); do
        F=$(awk '/^ready/ {print $2; exit}' "$T/$name.out" 2>/dev/null)
        [ -n "$F" ] && break
        sleep 0.1
    done
    SEEN_SOFT=$(awk '/^ready/ {print $3; exit}' "$T/$name.out")
    FALL=$(awk '/^ready/ {print $4; exit}' "$T/$name.out")
    [ -n "$F" ]
}

# ---- (a) soft = hard = 200: the shim's fds come out of the program's -------------
if start_server hard200 200 200 1; then
    want=$(((200 - F - 4) / 3))
    run_clients "$PORT" 300 1 20 "$T/hard200.clients"
    got=$(awk '/^served/ {print $2}' "$T/hard200.clients")
    if grep -q HANG "$T/hard200.clients"; then
        fail "at ulimit -n 200, the client past the limit is refused, not left hanging" "$(head -1 "$T/hard200.clients")"
    elif [ "$got" != "$want" ]; then
        fail "at ulimit -n 200 a TLS server serves floor((200 - $F - 4) / 3) = $want clients" "served ${got:-?}: $(head -2 "$T/hard200.clients" | tr '\n' ' ')"
    else
        pass "at ulimit -n 200 a TLS server serves floor((200 - $F - 4) / 3) = $want clients, and the next one is closed"
    fi
    sleep 0.3
    if grep -q "refused: .*no file descriptor left" "$T/hard200.shim.log"; then
        pass "the first client refused at ulimit -n 200 is logged with the reason"
    else
        fail "the first client refused at ulimit -n 200 is logged with the reason" "log: $(grep -v 'accepted from' "$T/hard200.shim.log" | head -3 | tr '\n' ' ')"
    fi
    e2e_kill "$SPID"
else
    fail "a server under the shim at ulimit -n 200" "did not start: $(tail -3 "$T/hard200.out" | tr '\n' ' ')"
fi

# ---- (a) soft 150 below a hard 300, all 300 used: the shim's fds fill the room above
# the program's limit, then come down from the top of its range. They must
# be the highest free numbers, so that the program's own stay dense from 0
# (before, they landed just above the program's and pushed its next fds up
# three numbers a connection: redis's event loop never polled a client past
# maxclients + 128, whose handshake hung). The next client is refused.
if start_server hard300 150 300 1; then
    want=$(((300 - FALL - 4) / 3))
    run_clients "$PORT" 400 1 10 "$T/hard300.clients"
    got=$(awk '/^served/ {print $2}' "$T/hard300.clients")
    read -r mfd held < <(awk '/^maxfd/ {print $2, $3}' "$T/hard300.clients")
    what="at soft limit 150, hard 300, a TLS server holding $FALL fds serves floor((300 - $FALL - 4) / 3) = $want clients"
    if grep -q HANG "$T/hard300.clients"; then
        fail "at soft limit 150, hard 300, the client past the hard limit is refused, not left hanging" "$(head -1 "$T/hard300.clients")"
    elif [ "$got" != "$want" ]; then
        fail "$what" "served ${got:-?}: $(head -1 "$T/hard300.clients")"
    else
        pass "$what, and the next one is closed within the client's 10 s"
    fi
    # dense from F: the highest number accept returned is below F + clients (+2
    # for a shim fd where the two meet)
    if [ -n "${mfd:-}" ] && [ "$mfd" -lt $((F + ${got:-0} + 2)) ]; then
        pass "at the hard limit the program's fd numbers stay dense: highest accepted $mfd, $F fds + ${got:-?} clients ($held open)"
    else
        fail "at the hard limit the program's fd numbers stay dense (highest accepted below $F + ${got:-?} + 2)" "highest accepted ${mfd:-?}"
    fi
    sleep 0.3
    if grep -q "refused: .*no file descriptor left" "$T/hard300.shim.log"; then
        pass "the first client refused at the hard limit 300 is logged with the reason"
    else
        fail "the first client refused at the hard limit 300 is logged with the reason" "log: $(grep -v 'accepted from' "$T/hard300.shim.log" | head -3 | tr '\n' ' ')"
    fi
    e2e_kill "$SPID"
else
    fail "a server under the shim at soft limit 150, hard 300" "did not start: $(tail -3 "$T/hard300.out" | tr '\n' ' ')"
fi

# ---- (a) soft 200 below a higher hard limit: the program keeps its 200 ------------
if [ "$HARD" -lt 1024 ]; then
    missing_tool "a hard RLIMIT_NOFILE of 1024 or more (it is $HARD)"
fi
if start_server plain200 200 1024 0; then
    run_clients "$PORT" 300 0 2 "$T/plain200.clients"
    base=$(awk '/^served/ {print $2}' "$T/plain200.clients")
    e2e_kill "$SPID"
else
    base=
fi
if start_server soft200 200 1024 1; then
    want=$((200 - F))
    run_clients "$PORT" 300 1 20 "$T/soft200.clients"
    got=$(awk '/^served/ {print $2}' "$T/soft200.clients")
    if [ "$SEEN_SOFT" = 200 ]; then
        pass "under the shim the program sees its own soft limit (200), not the raised one"
    else
        fail "under the shim the program sees its own soft limit" "it sees $SEEN_SOFT"
    fi
    if grep -q HANG "$T/soft200.clients"; then
        fail "at soft limit 200 (hard 1024), the client past the limit is refused, not left hanging" "$(head -1 "$T/soft200.clients")"
    elif [ "$got" != "$want" ] || [ "$got" != "$base" ]; then
        fail "at soft limit 200 (hard 1024) a TLS server serves 200 - $F = $want clients, as many as in plaintext without the shim" "served ${got:-?} (plaintext without the shim: ${base:-?}): $(head -1 "$T/soft200.clients")"
    else
        pass "at soft limit 200 (hard 1024) a TLS server serves 200 - $F = $want clients, as many as in plaintext without the shim ($base)"
    fi
    sleep 0.3
    if grep -q "refused: the program has no file descriptor left" "$T/soft200.shim.log" &&
        grep -q "accept: Too many open files" "$T/soft200.out"; then
        pass "the client past the program's own limit is refused in the log, and the program gets EMFILE"
    else
        fail "the client past the program's own limit is refused in the log, and the program gets EMFILE" \
            "log: $(grep -v 'accepted from' "$T/soft200.shim.log" | head -2 | tr '\n' ' ') out: $(tail -2 "$T/soft200.out" | tr '\n' ' ')"
    fi
    e2e_kill "$SPID"
else
    fail "a server under the shim at soft limit 200" "did not start: $(tail -3 "$T/soft200.out" | tr '\n' ' ')"
fi

# ---- every fd taken by the program: a waiting client is refused, never left hanging ---
# (the program's own accept fails with EMFILE; the shim's spare fd takes the
# connection off the listen queue, logs it and closes it)
cat >"$T/fill.py" <<'PY'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
a = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="localhost")
a.sendall(b"FILL\r\n")
print("filler:", a.recv(100).decode().strip())
try:
    b = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="localhost")
    b.sendall(b"PING\r\n")
    print("next client: got %r" % b.recv(100))
except (socket.timeout, TimeoutError):
    print("next client: HANG (20s timeout)")
except (OSError, ssl.SSLError) as e:
    print("next client: closed: %s" % e)
PY
if start_server fill 200 1024 1; then
    (ulimit -Sn "$HARD"; timeout 60 python3 "$T/fill.py" "$PORT" "$PKI/ca.pem") >"$T/fill.clients" 2>&1
    sleep 0.3
    if grep -q "next client: closed" "$T/fill.clients" &&
        grep -q "refused: the program has no file descriptor left (RLIMIT_NOFILE is 200" "$T/fill.shim.log"; then
        pass "with every fd of the program taken, a waiting TLS client is refused in the log and closed, not left hanging"
    else
        fail "with every fd of the program taken, a waiting TLS client is refused in the log and closed" \
            "$(tr '\n' ' ' <"$T/fill.clients") log: $(grep -v 'accepted from' "$T/fill.shim.log" | head -2 | tr '\n' ' ')"
    fi
    e2e_kill "$SPID"
else
    fail "a server under the shim at soft limit 200 (fill)" "did not start: $(tail -3 "$T/fill.out" | tr '\n' ' ')"
fi

# ---- (b) redis, 5000 TLS clients across the shim's old fd base (4096) ---------------
command -v redis-server >/dev/null 2>&1 || missing_tool redis-server
if [ "$HARD" -lt 16384 ]; then
    missing_tool "a hard RLIMIT_NOFILE of 16384 or more for 5000 clients (it is $HARD)"
fi
N=${FDLIMIT_CLIENTS:-5000}
# redis_run NAME SOFT HARD N [REDIS ARGS]: redis under an accept rule with those
# limits, N TLS clients
redis_run() {
    local name=$1 soft=$2 hard=$3 N=$4
    shift 4
    local port
    port=$(free_port)
    write_policy "$T/$name.ini" "[global]" "log_level = info" "log = $T/$name.shim.log" "" \
        "[redis]" "direction = accept" "match = 127.0.0.1:$port" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    e2e_bg "$T/$name.out" bash -c 'ulimit -Sn "$1" && ulimit -Hn "$2" && shift 2 && exec timeout 150 "$@"' \
        sh "$soft" "$hard" "$TLSSHIM" -c "$T/$name.ini" -- redis-server --port "$port" --bind 127.0.0.1 \
        --save '' --appendonly no --logfile "$T/$name.log" "$@"
    local rpid=$E2E_BG_PID what="redis under an accept rule at soft $soft, hard $hard fds"
    if wait_port "$port"; then
        run_clients "$port" "$N" 1 20 "$T/$name.clients"
        local got
        got=$(awk '/^served/ {print $2}' "$T/$name.clients")
        if [ "$got" = "$N" ]; then
            pass "$what serves $N TLS clients, none hangs"
        else
            fail "$what serves $N TLS clients" \
                "served ${got:-?}: $(head -1 "$T/$name.clients") redis: $(grep -v WARNING "$T/$name.log" | tail -2 | tr '\n' ' ')"
        fi
    else
        fail "$what" "did not start: $(tail -3 "$T/$name.out" | tr '\n' ' ')"
    fi
    e2e_kill "$rpid"
}
# soft = hard: the shim's fds at the top of redis's range (before: at 4096 and
# up, and the 4,087th client hung)
redis_run redis16k 16384 16384 "$N"
# soft 1024 below a hard 16384: redis sets soft = hard = maxclients + 32
# itself; the shim keeps the kernel's hard limit where its own fds still fit
# (before: a third of maxclients)
redis_run redis1k 1024 16384 1900 --maxclients 2000

# soft = hard = 1000, maxclients 345: the fds run out first (at about 330
# clients). Before, the shim's fds took the numbers just above redis's, which
# pushed redis's past the 473 (345 + 128) its event loop covers: the 326th
# client's handshake completed but its PING hung (as the 6,138th of 10,000
# did at a hard limit of 20,000). Now the client past the last fd is refused.
port=$(free_port)
write_policy "$T/redisfull.ini" "[global]" "log_level = info" "log = $T/redisfull.shim.log" "" \
    "[redis]" "direction = accept" "match = 127.0.0.1:$port" \
    "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
e2e_bg "$T/redisfull.out" bash -c 'ulimit -Sn 1000 && ulimit -Hn 1000 && exec timeout 60 "$@"' \
    sh "$TLSSHIM" -c "$T/redisfull.ini" -- redis-server --port "$port" --bind 127.0.0.1 \
    --save '' --appendonly no --logfile "$T/redisfull.log" --maxclients 345
rpid=$E2E_BG_PID
what="redis under an accept rule at the hard limit (1000 fds, maxclients 345)"
if wait_port "$port"; then
    run_clients "$port" 400 1 10 "$T/redisfull.clients"
    got=$(awk '/^served/ {print $2}' "$T/redisfull.clients")
    first=$(grep '^client' "$T/redisfull.clients" | head -1)
    sleep 0.3
    if grep -q HANG "$T/redisfull.clients"; then
        fail "$what: the client past the last fd is refused, not left hanging" "served ${got:-?}, $first"
    elif [ "${got:-0}" -lt $(((1000 - 48) / 3)) ] || ! grep -q "closed in" <<<"$first" ||
        grep -q "max number of clients" <<<"$first"; then
        fail "$what serves about a third of 1000 TLS clients, then the fds run out" "served ${got:-?}, $first"
    elif ! grep -q "refused: .*no file descriptor left" "$T/redisfull.shim.log"; then
        fail "$what: the refused client is logged with the reason" "log: $(grep -v 'accepted from\|close_notify' "$T/redisfull.shim.log" | head -3 | tr '\n' ' ')"
    else
        pass "$what serves $got TLS clients; the next one is closed within the client's 10 s and logged"
    fi
else
    fail "$what" "did not start: $(tail -3 "$T/redisfull.out" | tr '\n' ' ')"
fi
e2e_kill "$rpid"
e2e_done
