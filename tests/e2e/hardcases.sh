#!/bin/bash
# End to end: the hard cases of DESIGN.md (shim section), driven by a python3
# program under the shim (python calls libc's connect, poll, dup, close_range,
# fork... like any C program). Peers: openssl s_server -www and a python ssl
# echo server (outside the shim) that reads to EOF, then echoes and closes.
. "$(dirname "$0")/lib.sh"
e2e_require openssl python3

T=$E2E_TMP

# --- peers ------------------------------------------------------------------
WWW=$(free_port)
s_server "$WWW" "$PKI/server.pem" "$PKI/server.key" -tls1_2 || fail setup "s_server did not start"
BAD=$(free_port)
s_server "$BAD" "$PKI/untrusted.pem" "$PKI/untrusted.key" -tls1_2 || fail setup "s_server (untrusted) did not start"
ECHO=$(free_port)
cat >"$T/echo.py" <<'EOF'
import hashlib, socket, ssl, sys, threading
port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(64)
lock = threading.Lock()
def serve(raw):
    raw.settimeout(20)
    try:
        c = ctx.wrap_socket(raw, server_side=True)
        data = bytearray()
        while True:
            d = c.recv(1 << 16)
            if not d: break
            data += d
        with lock, open(log, "a") as f:
            f.write("%d %s\n" % (len(data), hashlib.sha256(data).hexdigest()))
        c.sendall(bytes(data))
        try: c.unwrap()
        except (OSError, ssl.SSLError): pass
    except (OSError, ssl.SSLError) as e:
        with lock, open(log, "a") as f: f.write("error %s\n" % e)
    raw.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
: >"$T/echo.log"
e2e_bg "$T/echo.out" timeout 300 python3 "$T/echo.py" "$ECHO" "$PKI/server.pem" "$PKI/server.key" "$T/echo.log"
wait_port "$ECHO" || fail setup "echo server did not start"
: >"$T/echo.log" # forget wait_port's probe

SILENT=$(free_port)
raw_listener "$SILENT" "$T/silent.bytes" || fail setup "raw listener did not start"
RST=$(free_port)
cat >"$T/rst.py" <<'EOF'
import socket, ssl, struct, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(8)
while True:
    raw, _ = ls.accept()
    try:
        c = ctx.wrap_socket(raw, server_side=True)   # handshake, then reset
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, ssl.SSLError):
        pass
    raw.close()
EOF
e2e_bg "$T/rst.out" timeout 300 python3 "$T/rst.py" "$RST" "$PKI/server.pem" "$PKI/server.key"
wait_port "$RST" || fail setup "resetting server did not start"
TRUNC=$(free_port)
cat >"$T/trunc.py" <<'EOF'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(8)
while True:
    raw, _ = ls.accept()
    try:
        c = ctx.wrap_socket(raw, server_side=True)
        c.sendall(b"partial")
        c.shutdown(socket.SHUT_RDWR)     # TCP FIN, no close_notify (SSLSocket.shutdown skips it)
        c.close()
    except (OSError, ssl.SSLError):
        raw.close()
EOF
e2e_bg "$T/trunc.out" timeout 300 python3 "$T/trunc.py" "$TRUNC" "$PKI/server.pem" "$PKI/server.key"
wait_port "$TRUNC" || fail setup "truncating server did not start"

write_policy "$T/p.ini" "[global]" "log_level = info" "handshake_timeout = 2000" "" \
    "[silent]" "direction = connect" "match = 127.0.0.1:$SILENT" "cacertfile = $PKI/ca.pem" "" \
    "[rst]" "direction = connect" "match = 127.0.0.1:$RST" "cacertfile = $PKI/ca.pem" "" \
    "[trunc]" "direction = connect" "match = 127.0.0.1:$TRUNC" "cacertfile = $PKI/ca.pem" "" \
    "[www]" "direction = connect" "match = 127.0.0.1:$WWW" "cacertfile = $PKI/ca.pem" "" \
    "[bad]" "direction = connect" "match = 127.0.0.1:$BAD" "cacertfile = $PKI/ca.pem" "" \
    "[echo]" "direction = connect" "match = 127.0.0.1:$ECHO" "cacertfile = $PKI/ca.pem"

# --- the program ----------------------------------------------------------------
cat >"$T/cases.py" <<'EOF'
import errno, fcntl, hashlib, os, select, signal, socket, struct, sys, threading, time
WWW, BAD, ECHO, SILENT, RST, TRUNC = (int(x) for x in sys.argv[1:7])
CASE = sys.argv[7] if len(sys.argv) > 7 else None
def res(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)), flush=True)
def http(s):
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    d = b""
    while True:
        c = s.recv(65536)
        if not c: break
        d += c
    return d
def http_ok(d): return d.startswith(b"HTTP/1.0 200") and b"s_server" in d
def echo(s, data):
    got = bytearray()
    def rd():
        while True:
            c = s.recv(1 << 16)
            if not c: break
            got.extend(c)
    t = threading.Thread(target=rd); t.start()
    s.sendall(data); s.shutdown(socket.SHUT_WR); t.join(30)
    return bytes(got)

def nonblocking_connect():
    s = socket.socket(); s.setblocking(False)
    e1 = s.connect_ex(("127.0.0.1", WWW))
    e2 = s.connect_ex(("127.0.0.1", WWW))
    early = "eagain"
    try: s.send(b"x"); early = "sent"
    except BlockingIOError: pass
    p = select.poll(); p.register(s, select.POLLOUT)
    ev = p.poll(10000)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    e3 = s.connect_ex(("127.0.0.1", WWW))
    s.setblocking(True); d = http(s)
    ok = e1 == errno.EINPROGRESS and e2 in (errno.EALREADY, errno.EISCONN) and early == "eagain" \
        and ev and ev[0][1] & select.POLLOUT and err == 0 and e3 == errno.EISCONN and http_ok(d)
    res("nonblocking_connect", ok, "connect %s/%s/%s early-send %s poll %s SO_ERROR %s reply %r" % (
        errno.errorcode.get(e1), errno.errorcode.get(e2), errno.errorcode.get(e3), early, ev, err, d[:30]))

def epoll_edge_triggered_connect():
    s = socket.socket(); s.setblocking(False)
    e1 = s.connect_ex(("127.0.0.1", WWW))
    ep = select.epoll(); ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN | select.EPOLLET)
    ev = ep.poll(10)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s.setblocking(True); d = http(s)
    res("epoll_edge_triggered_connect", e1 == errno.EINPROGRESS and ev and ev[0][1] & select.EPOLLOUT
        and err == 0 and http_ok(d), "connect %s epoll %s SO_ERROR %s" % (errno.errorcode.get(e1), ev, err))

def handshake_timeout():
    s = socket.socket(); t0 = time.time()
    try:
        s.connect(("127.0.0.1", SILENT)); res("handshake_timeout", False, "connect succeeded")
    except OSError as e:
        dt = time.time() - t0
        res("handshake_timeout", e.errno == errno.ETIMEDOUT and 1.5 < dt < 6, "%s after %.1fs" % (e, dt))

def connect_sndtimeo():
    # SO_SNDTIMEO bounds a blocking connect: EINPROGRESS after it, as for TCP
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 500000))
    t0 = time.time()
    e = s.connect_ex(("127.0.0.1", SILENT))
    dt = time.time() - t0
    res("connect_sndtimeo", e == errno.EINPROGRESS and 0.3 < dt < 1.5,
        "%s after %.2fs" % (errno.errorcode.get(e, e), dt))

def connect_eintr():
    # a signal handler interrupts a blocking connect (alarm()-style timeouts)
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    s = socket.socket(); fd = s.fileno()
    signal.setitimer(signal.ITIMER_REAL, 0.4)
    t0 = time.time()
    try:
        # a raw libc call: python's socket.connect retries on EINTR (PEP 475)
        import ctypes, ctypes.util
        libc = ctypes.CDLL(None, use_errno=True)
        sa = struct.pack("HH4s8x", socket.AF_INET, socket.htons(SILENT), socket.inet_aton("127.0.0.1"))
        r = libc.connect(fd, sa, len(sa)); err = ctypes.get_errno()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0); signal.signal(signal.SIGALRM, old)
    dt = time.time() - t0
    e2 = s.connect_ex(("127.0.0.1", SILENT))
    res("connect_eintr", r == -1 and err == errno.EINTR and fired and dt < 1.5 and e2 == errno.EALREADY,
        "connect %s errno %s after %.2fs, then %s" % (r, errno.errorcode.get(err, err), dt, errno.errorcode.get(e2, e2)))

def no_sigpipe_from_helper():
    # the peer resets the connection; the program closes its end, so the
    # helper's close_notify meets a dead socket (EPIPE): with SIGPIPE at its
    # default action, a signal from the helper would kill the process
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        for _ in range(3):
            s = socket.socket(); s.connect(("127.0.0.1", RST))
            time.sleep(0.2)
            try: s.send(b"x" * 100000, socket.MSG_NOSIGNAL)
            except OSError: pass
            s.close()
        time.sleep(0.5)
        res("no_sigpipe_from_helper", True)
    finally:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

def peer_truncates():
    # the peer closes TCP without close_notify: the program reads what came, then EOF
    s = socket.socket(); s.connect(("127.0.0.1", TRUNC))
    d = b""
    while True:
        c = s.recv(100)
        if not c: break
        d += c
    res("peer_truncates", d == b"partial", "got %r" % d)

def nonblocking_connect_fails():
    s = socket.socket(); s.setblocking(False)
    e1 = s.connect_ex(("127.0.0.1", BAD))
    p = select.poll(); p.register(s, select.POLLOUT)
    ev = p.poll(10000)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    res("nonblocking_connect_fails", e1 == errno.EINPROGRESS and ev and err == errno.ECONNREFUSED,
        "connect %s poll %s SO_ERROR %s" % (errno.errorcode.get(e1), ev, errno.errorcode.get(err, err)))

def blocking_connect_fails():
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", BAD)); res("blocking_connect_fails", False, "connect succeeded")
    except ConnectionRefusedError:
        res("blocking_connect_fails", True)
    except OSError as e:
        res("blocking_connect_fails", False, "wrong error %s" % e)

def names_and_options():
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # before connect
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 7, 0))
    s.connect(("127.0.0.1", WWW))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)   # after connect
    peer, local = s.getpeername(), s.getsockname()
    dom = s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN)
    typ = s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
    nd = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    ka = s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    rcvtimeo = struct.unpack("ll", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))[0]
    ok = rcvtimeo == 7 and peer == ("127.0.0.1", WWW) and local[0] == "127.0.0.1" and local[1] > 0 and \
        dom == socket.AF_INET and typ == socket.SOCK_STREAM and nd == 1 and ka == 1
    res("names_and_options", ok and http_ok(http(s)),
        "peer %s local %s domain %s type %s nodelay %s keepalive %s rcvtimeo %s" % (peer, local, dom, typ, nd, ka, rcvtimeo))

def dup_keeps_connection():
    s = socket.socket(); s.connect(("127.0.0.1", WWW))
    fd2 = os.dup(s.fileno()); s.close()
    s2 = socket.socket(fileno=fd2)
    ok = s2.getpeername() == ("127.0.0.1", WWW)
    res("dup_keeps_connection", ok and http_ok(http(s2)), "peer %s" % (s2.getpeername(),))

def dup3_and_fcntl_dupfd_keep_connection():
    # each copy, made by dup3 (os.dup2 with inheritable=False), F_DUPFD or
    # F_DUPFD_CLOEXEC, is the connection once the original is closed: its
    # peer is the server (not the socketpair), its close-on-exec flag is the
    # one asked for, and a request over it is answered
    ways = (("dup3", lambda fd: os.dup2(fd, 250, inheritable=False), True),
            ("F_DUPFD", lambda fd: fcntl.fcntl(fd, fcntl.F_DUPFD, 300), False),
            ("F_DUPFD_CLOEXEC", lambda fd: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 300), True))
    bad = []
    for name, copy, cloexec in ways:
        s = socket.socket(); s.connect(("127.0.0.1", WWW))
        n = copy(s.fileno()); s.close()
        s2 = socket.socket(fileno=n)
        peer = s2.getpeername()
        ce = bool(fcntl.fcntl(n, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
        d = http(s2); s2.close()
        if peer != ("127.0.0.1", WWW) or ce != cloexec or not http_ok(d):
            bad.append("%s: fd %d peer %s cloexec %s reply %r" % (name, n, peer, ce, d[:30]))
    res("dup3_and_fcntl_dupfd_keep_connection", not bad, "; ".join(bad))

def close_everything_spares_shim():
    s = socket.socket(); s.connect(("127.0.0.1", WWW))
    fd = s.fileno()
    os.closerange(fd + 1, 1 << 20)           # close_range()
    for i in range(fd + 1, 8192):            # a close loop
        try: os.close(i)
        except OSError: pass
    d = http(s)
    s.close() # s_server (one connection at a time) waits for our close, as it would over TCP
    s3 = socket.socket(); s3.connect(("127.0.0.1", WWW))   # and new connections still work
    res("close_everything_spares_shim", http_ok(d) and http_ok(http(s3)), "reply %r" % d[:40])

def fork_child_uses_parent_helper():
    s = socket.socket(); s.connect(("127.0.0.1", WWW))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            ok1 = http_ok(http(s))            # through the parent's helper
            s.close()                         # the last copy: s_server waits for it
            s2 = socket.socket(); s2.connect(("127.0.0.1", WWW))
            ok2 = http_ok(http(s2))           # the child's own helper
            os.write(w, b"%d%d" % (ok1, ok2))
        finally:
            os._exit(0)
    os.close(w); s.close()
    got = os.read(r, 2); os.waitpid(pid, 0)
    s3 = socket.socket(); s3.connect(("127.0.0.1", WWW))
    res("fork", got == b"11" and http_ok(http(s3)), "child said %r" % got)

def fork_with_threads():
    stop = []
    def spin():
        while not stop:
            s = socket.socket(); s.connect(("127.0.0.1", WWW)); http(s); s.close()
    ts = [threading.Thread(target=spin) for _ in range(3)]
    for t in ts: t.start()
    oks = 0
    for _ in range(5):
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                # not s_server: it waits for the close of a spinning thread's
                # connection, and this child holds a copy of it until it exits
                s = socket.socket(); s.connect(("127.0.0.1", ECHO)); ok = echo(s, b"f" * 999) == b"f" * 999
            finally:
                os._exit(0 if ok else 1)
        _, st = os.waitpid(pid, 0)
        oks += os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
    stop.append(1)
    for t in ts: t.join(20)
    res("fork_with_threads", oks == 5, "%d of 5 children worked" % oks)

def fork_exec_inherits():
    # inetd style: the child gets the connection as stdin/stdout and execs a
    # program that knows nothing; it works through this process's helper
    out = os.path.join(os.environ["E2E_T"], "exec.out")
    s = socket.socket(); s.connect(("127.0.0.1", WWW))
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)
            os.execvp("sh", ["sh", "-c", 'printf "GET / HTTP/1.0\\r\\n\\r\\n"; cat > "$0"', out])
        finally:
            os._exit(127)
    s.close()
    _, st = os.waitpid(pid, 0)
    with open(out, "rb") as f: d = f.read()
    res("fork_exec_inherits", http_ok(d), "exit %s, got %r" % (st, d[:40]))

def half_close_and_large_echo():
    data = os.urandom(4 << 20)
    s = socket.socket(); s.connect(("127.0.0.1", ECHO))
    got = echo(s, data)
    res("half_close_large_echo", got == data, "sent %d got %d" % (len(data), len(got)))

def parallel_threads():
    bad = []
    def one(i):
        for _ in range(4):
            data = os.urandom(100000 + i)
            s = socket.socket(); s.connect(("127.0.0.1", ECHO))
            if echo(s, data) != data: bad.append(i)
            s.close()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in ts: t.start()
    for t in ts: t.join(60)
    res("parallel_threads", not bad, "%d failures" % len(bad))

def many_connections():
    socks = []
    for _ in range(1000):
        s = socket.socket(); s.connect(("127.0.0.1", ECHO)); socks.append(s)
    good = 0
    for i, s in enumerate(socks):
        data = b"%d" % i
        if echo(s, data) == data: good += 1
        s.close()
    res("many_connections", good == len(socks), "%d of %d" % (good, len(socks)))

if CASE == "send_close_exit":
    # write, close, exit at once: nothing may be lost
    s = socket.socket(); s.connect(("127.0.0.1", ECHO))
    s.sendall(b"A" * (2 << 20)); s.close(); sys.exit(0)
if CASE == "send_exit":
    # write and exit without closing: exit() closes it, nothing may be lost
    s = socket.socket(); s.connect(("127.0.0.1", ECHO))
    s.sendall(b"B" * (1 << 20)); sys.exit(0)

for f in (nonblocking_connect, epoll_edge_triggered_connect, handshake_timeout, connect_sndtimeo,
          connect_eintr,
          no_sigpipe_from_helper,
          peer_truncates,
          nonblocking_connect_fails, blocking_connect_fails, names_and_options,
          dup_keeps_connection, dup3_and_fcntl_dupfd_keep_connection, close_everything_spares_shim, fork_child_uses_parent_helper,
          fork_with_threads, fork_exec_inherits, half_close_and_large_echo, parallel_threads, many_connections):
    try: f()
    except Exception as e: res(f.__name__, False, "exception %r" % e)
EOF

E2E_T=$T timeout 120 "$TLSSHIM" -c "$T/p.ini" python3 "$T/cases.py" "$WWW" "$BAD" "$ECHO" "$SILENT" "$RST" "$TRUNC" 2>"$T/cases.err"
rc=$?
if grep -q "\[trunc\] 127.0.0.1:$TRUNC closed the connection without close_notify" "$T/cases.err"; then
    pass truncation_reported
else
    fail truncation_reported "no warning in the log"
fi
if grep -q "$(printf 'GET ')" "$T/silent.bytes"; then
    fail no_plaintext_to_silent_server "the request reached the network in plaintext"
fi
[ $rc = 0 ] || fail cases_program "exit $rc: $(grep -v 'info:' "$T/cases.err" | tail -5 | tr '\n' ' ')"

# close with data in flight loses nothing
: >"$T/echo.log"
timeout 30 "$TLSSHIM" -c "$T/p.ini" python3 "$T/cases.py" "$WWW" "$BAD" "$ECHO" "$SILENT" "$RST" "$TRUNC" send_close_exit 2>"$T/sce.err"
timeout 30 "$TLSSHIM" -c "$T/p.ini" python3 "$T/cases.py" "$WWW" "$BAD" "$ECHO" "$SILENT" "$RST" "$TRUNC" send_exit 2>"$T/se.err"
for _ in $(seq 50); do [ "$(wc -l <"$T/echo.log")" -ge 2 ] && break; sleep 0.1; done
if grep -q "^$((2 << 20)) " "$T/echo.log"; then
    pass close_with_data_in_flight
else
    fail close_with_data_in_flight "server saw: $(tr '\n' ' ' <"$T/echo.log")"
fi
if grep -q "^$((1 << 20)) " "$T/echo.log"; then
    pass exit_with_data_in_flight
else
    fail exit_with_data_in_flight "server saw: $(tr '\n' ' ' <"$T/echo.log")"
fi

e2e_done
