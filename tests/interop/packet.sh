#!/bin/bash
# gen_tcp's {packet, N} framing through the examples (issue 9):
# - python's ssl module (a TLS stack nobody here wrote) sends framed bytes to
#   `echo_server --packet 4` and `--packet line`: three messages in one write,
#   then one message split over three writes; it must get four whole echoes,
#   each framed as one message;
# - `echo_server --packet 2 --packet-size 100` answers a 200-byte message with
#   an error message that names both sizes, goes on serving that connection,
#   and serves the next one;
# - echo_client --packet 4 -- A B C against it prints each reply on a line.
. "$(dirname "$0")/lib.sh"
need_build
have python3 || missing_tool python3

cat >"$T/framed.py" <<'EOF'
# framed.py PORT CA MODE: MODE "4" or "line" (echo test), or "size" (packet_size test)
import socket, ssl, struct, sys, time
port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)

def conn():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                        server_hostname="localhost")
    return s

def frame(m):
    return struct.pack(">I", len(m)) + m if mode == "4" else m + b"\n"

def read_exact(s, n):
    d = b""
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(d), n))
        d += c
    return d

def read_msg(s, h):  # one message with an h-byte prefix
    n = struct.unpack(">I" if h == 4 else ">H", read_exact(s, h))[0]
    return read_exact(s, n)

def read_line(s):
    d = b""
    while not d.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            raise EOFError("closed in a line")
        d += c
    return d

if mode in ("4", "line"):
    s = conn()
    msgs = [b"alpha", b"beta beta", b"gamma"]
    s.sendall(b"".join(frame(m) for m in msgs))          # three in one write
    last = frame(b"split over three writes")
    for part in (last[:2], last[2:9], last[9:]):          # one in three writes
        s.sendall(part); time.sleep(0.05)
    got = [read_msg(s, 4) if mode == "4" else read_line(s).rstrip(b"\n") for _ in range(4)]
    want = msgs + [b"split over three writes"]
    print("echoes %s" % ("ok" if got == want else "WRONG %r" % got))
else:
    s = conn()
    s.sendall(struct.pack(">H", 200) + b"x" * 200)       # over packet_size 100
    err = read_msg(s, 2)
    s.sendall(struct.pack(">H", 5) + b"after")             # the connection goes on
    nxt = read_msg(s, 2)
    s2 = conn()                                             # and so does the server
    s2.sendall(struct.pack(">H", 4) + b"next")
    other = read_msg(s2, 2)
    print("error %r" % err.decode())
    print("then %r, other connection %r" % (nxt.decode(), other.decode()))
EOF

for mode in 4 line; do
    if ! our_server "srv$mode" --certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --packet "$mode"; then
        fail "echo_server --packet $mode" "did not start" "$T/srv$mode.err"
        continue
    fi
    timeout "$TO" python3 "$T/framed.py" "$SRV_PORT" "$PKI/ca.pem" "$mode" >"$T/py$mode.out" 2>&1
    if grep -qx "echoes ok" "$T/py$mode.out"; then
        pass "echo_server --packet $mode: 3 messages in one write + 1 in three writes -> 4 whole echoes"
        row "--packet $mode: 4 of 4 whole echoes"
    else
        fail "echo_server --packet $mode: four whole echoes" "$(excerpt "$T/py$mode.out")" "$T/srv$mode.err"
        row "--packet $mode: FAIL"
    fi
    stop "$SRV_PID"
done

if our_server srvsize --certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --packet 2 --packet-size 100; then
    timeout "$TO" python3 "$T/framed.py" "$SRV_PORT" "$PKI/ca.pem" size >"$T/pysize.out" 2>&1
    if grep -q "^error .*200 bytes.*packet_size 100" "$T/pysize.out" &&
        grep -qx "then 'after', other connection 'next'" "$T/pysize.out"; then
        pass "echo_server --packet 2 --packet-size 100: a 200-byte message gets an error naming both sizes; serving goes on"
        row "--packet-size: $(sed -n 's/^error //p' "$T/pysize.out")"
    else
        fail "echo_server --packet-size 100: error naming both sizes, then serving on" \
            "$(excerpt "$T/pysize.out")" "$T/srvsize.err"
    fi
    out=$(timeout "$TO" "$CLIENT" localhost "$SRV_PORT" --cacertfile "$PKI/ca.pem" --packet 2 \
        -- one "two words" three 2>"$T/cli.err")
    if [ "$out" = "$(printf 'one\ntwo words\nthree')" ]; then
        pass "echo_client --packet 2 -- one 'two words' three: each reply whole on its line"
    else
        fail "echo_client --packet 2: each reply on its line" "got '$(tr '\n' '|' <<<"$out")'" "$T/cli.err"
    fi
    stop "$SRV_PID"
else
    fail "echo_server --packet 2 --packet-size 100" "did not start" "$T/srvsize.err"
fi

finish "packet framing (echo_server/echo_client --packet)"
