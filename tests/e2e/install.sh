#!/bin/bash
# make install / make uninstall (issue 10): into a DESTDIR stage, every file
# with its mode and nothing more; the staged launcher finds the staged preload
# library (also after the prefix is moved) and runs real programs through TLS
# under an accept rule (python3 http.server, curl) and a connect rule (curl
# http:// against openssl s_server); a C program built with
# `pkg-config --cflags --libs tlsengine` links against the staged engine and
# connects; `man -l` renders both pages without warnings; make uninstall
# removes exactly what install installed.
. "$(dirname "$0")/lib.sh"
e2e_require curl openssl python3 pkg-config man groff make "${CC:-cc}"

T=$E2E_TMP
STAGE=$T/stage
PREFIX=/usr/local
ROOT=$STAGE$PREFIX
# the suite's build, as make names it (relative to the top when it is inside)
MAKE_BUILD=${BUILD#"$TOP"/}
mk() { make --no-print-directory -s BUILD="$MAKE_BUILD" SANITIZE="${SANITIZE:-}" PREFIX=$PREFIX DESTDIR="$STAGE" "$@"; }

# --- install: every file, its mode, nothing else -------------------------------
EXPECTED="755 bin/tlsshim
755 lib/tlsshim/libtlsshim.so
755 lib/libtlsengine.so
644 lib/libtlsengine.a
644 include/tlsengine.h
644 include/tlsengine_socket.h
644 lib/pkgconfig/tlsengine.pc
644 share/man/man1/tlsshim.1
644 share/man/man5/tlsshim.ini.5"
if ! out=$(mk install 2>&1); then
    fail make_install "$(tail -5 <<<"$out")"
    e2e_done
fi
got=$(cd "$STAGE" && find . -type f -printf '%m %P\n' | sed "s| ${PREFIX#/}/| |" | sort)
if [ "$got" = "$(sort <<<"$EXPECTED")" ]; then
    pass install_files_and_modes
else
    fail install_files_and_modes "got: $(tr '\n' ';' <<<"$got")"
fi
# the public headers are exactly engine/include's
pub=$(cd engine/include && ls ./*.h | sed 's|^\./||' | sort | tr '\n' ' ')
[ "$pub" = "tlsengine.h tlsengine_socket.h " ] && pass public_headers_are_engine_include ||
    fail public_headers_are_engine_include "engine/include holds: $pub (update EXPECTED)"
if grep -qx "prefix=$PREFIX" "$ROOT/lib/pkgconfig/tlsengine.pc" &&
    ! grep -q "$STAGE" "$ROOT/lib/pkgconfig/tlsengine.pc"; then
    pass pc_names_prefix_not_stage
else
    fail pc_names_prefix_not_stage "$(head -3 "$ROOT/lib/pkgconfig/tlsengine.pc" | tr '\n' ' ')"
fi

# --- the staged launcher finds the staged library ------------------------------
write_policy "$T/none.ini" "[r]" "direction = connect" "match = 127.0.0.1:9" "verify = verify_none"
out=$("$ROOT/bin/tlsshim" -c "$T/none.ini" sh -c 'echo "$LD_PRELOAD"' 2>&1)
case $out in
*"$ROOT/lib/tlsshim/libtlsshim.so") pass launcher_finds_installed_library ;;
*) fail launcher_finds_installed_library "LD_PRELOAD=$out" ;;
esac
# relative to itself: a moved prefix works as it is
cp -a "$ROOT" "$T/moved"
out=$("$T/moved/bin/tlsshim" -c "$T/none.ini" sh -c 'echo "$LD_PRELOAD"' 2>&1)
case $out in
*"$T/moved/lib/tlsshim/libtlsshim.so") pass launcher_relocatable ;;
*) fail launcher_relocatable "LD_PRELOAD=$out" ;;
esac
rm -rf "$T/moved"
# no library anywhere: refused, and the message names every place looked at
mkdir -p "$T/lonely/bin" && cp "$ROOT/bin/tlsshim" "$T/lonely/bin/"
out=$("$T/lonely/bin/tlsshim" -c "$T/none.ini" touch "$T/ran" 2>&1)
rc=$?
if [ $rc = 1 ] && [ ! -e "$T/ran" ] && grep -qF "$T/lonely/bin/libtlsshim.so" <<<"$out" &&
    grep -qF "$T/lonely/lib/tlsshim/libtlsshim.so" <<<"$out"; then
    pass launcher_names_places_looked
else
    fail launcher_names_places_looked "rc=$rc: $out"
fi

# --- real programs through TLS under the staged launcher ----------------------
MARK="installed-$$"
mkdir -p "$T/www" && echo "$MARK" >"$T/www/index.html"
PORT=$(free_port)
write_policy "$T/web.ini" "[global]" "log_level = info" "" "[web]" "direction = accept" \
    "match = 127.0.0.1:$PORT" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
e2e_bg "$T/web.log" timeout 60 "$ROOT/bin/tlsshim" -c "$T/web.ini" \
    python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PORT"
if wait_port "$PORT"; then
    out=$(timeout 20 curl -sS -m 10 --cacert "$PKI/ca.pem" "https://localhost:$PORT/index.html" 2>"$T/c1.err")
    if [ "$out" = "$MARK" ]; then
        pass installed_accept_rule
    else
        fail installed_accept_rule "curl got '$out': $(tr '\n' ' ' <"$T/c1.err") $(tail -3 "$T/web.log")"
    fi
else
    fail installed_accept_rule "shimmed http.server did not start: $(tail -3 "$T/web.log")"
fi

SPORT=$(free_port)
s_server "$SPORT" "$PKI/server.pem" "$PKI/server.key" ||
    fail setup "openssl s_server did not start: $(tail -3 "$E2E_TMP/s_server-$SPORT.log")"
write_policy "$T/up.ini" "[global]" "log_level = info" "" "[up]" "direction = connect" \
    "match = 127.0.0.1:$SPORT" "server_name = localhost" "cacertfile = $PKI/ca.pem"
out=$(timeout 20 "$ROOT/bin/tlsshim" -c "$T/up.ini" "${HTTP_GET[@]}" "http://127.0.0.1:$SPORT/" 2>"$T/c2.err")
if grep -q "s_server -accept" <<<"$out" && grep -q "TLSv1.3" <<<"$out"; then
    pass installed_connect_rule
else
    fail installed_connect_rule "got '$(head -c 200 <<<"$out")': $(tr '\n' ' ' <"$T/c2.err")"
fi

# --- pkg-config: a C program on the staged engine links and connects ----------
cat >"$T/client.c" <<'EOC'
#include <tlsengine_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3 || tls_start() != 0)
        return 2;
    tls_versions_info v;
    tls_versions(&v);
    printf("engine: %s\n", v.app_version);
    tls_options o;
    tls_options_init(&o);
    o.verify = TLS_VERIFY_PEER;
    o.cacertfile = argv[2];
    tls_socket *s;
    tls_error err;
    char msg[256];
    if (tls_connect("localhost", atoi(argv[1]), &o, 10000, &s, &err) != TLS_OK) {
        fprintf(stderr, "connect: %s\n", tls_format_error(&err, msg, sizeof msg));
        return 1;
    }
    const char *req = "GET / HTTP/1.0\r\n\r\n";
    if (tls_send(s, req, strlen(req), &err) != TLS_OK) {
        fprintf(stderr, "send: %s\n", tls_format_error(&err, msg, sizeof msg));
        tls_close(s);
        return 1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = tls_recv(s, buf, sizeof buf, 0, 10000, &err)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    tls_close(s);
    return 0;
}
EOC
PCENV=(env PKG_CONFIG_PATH="$ROOT/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$STAGE")
flags=$("${PCENV[@]}" pkg-config --cflags --libs tlsengine 2>&1)
rc=$?
if [ $rc = 0 ] && grep -qF -- "-I$ROOT/include" <<<"$flags" && grep -qF -- "-L$ROOT/lib" <<<"$flags" &&
    grep -qF -- "-ltlsengine" <<<"$flags"; then
    pass pkg_config_flags
else
    fail pkg_config_flags "rc=$rc: $flags"
fi
san=()
[ "${SANITIZE:-}" = 1 ] && san=(-fsanitize=address,undefined)
# shellcheck disable=SC2086
if "${CC:-cc}" -std=c11 -Wall -Wextra -Werror "${san[@]}" "$T/client.c" -o "$T/client" $flags 2>"$T/cc.err"; then
    pass pkg_config_compiles_and_links
    out=$(LD_LIBRARY_PATH="$ROOT/lib" ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 \
        timeout 20 "$T/client" "$SPORT" "$PKI/ca.pem" 2>"$T/client.err")
    rc=$?
    lib=$(LD_LIBRARY_PATH="$ROOT/lib" ldd "$T/client" | awk '/libtlsengine/ {print $3}')
    if [ $rc = 0 ] && grep -q "^engine: tlsengine" <<<"$out" && grep -q "s_server -accept" <<<"$out" &&
        [ "$lib" = "$ROOT/lib/libtlsengine.so" ]; then
        pass pkg_config_program_connects
    else
        fail pkg_config_program_connects "rc=$rc lib=$lib: $(head -c 200 <<<"$out") $(cat "$T/client.err")"
    fi
else
    fail pkg_config_compiles_and_links "$(head -5 "$T/cc.err")"
fi
# static linking pulls libcrypto through Requires.private
sflags=$("${PCENV[@]}" pkg-config --static --libs tlsengine 2>&1)
grep -q -- "-lcrypto" <<<"$sflags" && pass pkg_config_static_needs_libcrypto ||
    fail pkg_config_static_needs_libcrypto "$sflags"

# --- man pages: render without warnings, document every option and key -------
for page in man1/tlsshim.1 man5/tlsshim.ini.5; do
    name=${page#*/}
    text=$(MANWIDTH=80 man --warnings -l "$ROOT/share/man/$page" 2>"$T/man.err")
    if [ -n "$text" ] && [ ! -s "$T/man.err" ]; then
        pass "man_renders_${name//./_}"
    else
        fail "man_renders_${name//./_}" "$(head -5 "$T/man.err")"
    fi
    printf '%s\n' "$text" >"$T/$name.txt"
done
missing=""
for opt in $("$TLSSHIM" --help | grep -o -- '--[a-z]*' | sort -u); do
    # an entry of OPTIONS: a tag line that names it
    grep -qE -- "^ {7}(.*, )?$opt([ ,=]|\$)" "$T/tlsshim.1.txt" || missing="$missing $opt"
done
[ -z "$missing" ] && pass man1_documents_every_option || fail man1_documents_every_option "missing:$missing"
# every key of README's key table (kept equal to config/keys.c by a unit test)
keys=$(sed -n 's/^| `\([a-z_]*\)` | .*/\1/p' README.md)
missing=""
for k in $keys; do
    grep -qE "^ {7}$k( |$)" "$T/tlsshim.ini.5.txt" || missing="$missing $k"
done
if [ -n "$keys" ] && [ -z "$missing" ]; then
    pass man5_documents_every_key
else
    fail man5_documents_every_key "keys: $(wc -w <<<"$keys"), without an entry:$missing"
fi

# --- uninstall: exactly what install put there ---------------------------------
# a file install did not put there stays, and so do folders others may share
mkdir -p "$ROOT/share/man/man1" && echo keep >"$ROOT/share/man/man1/other.1"
if ! out=$(mk uninstall 2>&1); then
    fail make_uninstall "$(tail -5 <<<"$out")"
else
    left=$(cd "$STAGE" && find . -type f -printf '%P\n')
    if [ "$left" = "${PREFIX#/}/share/man/man1/other.1" ] && [ ! -e "$ROOT/lib/tlsshim" ] &&
        [ -d "$ROOT/lib/pkgconfig" ]; then
        pass uninstall_removes_exactly_what_was_installed
    else
        fail uninstall_removes_exactly_what_was_installed "left: $(tr '\n' ' ' <<<"$left") lib/tlsshim: $(ls -d "$ROOT/lib/tlsshim" 2>&1)"
    fi
fi
# again: nothing to remove is not an error
out=$(mk uninstall 2>&1) && pass uninstall_twice || fail uninstall_twice "$out"

e2e_done
