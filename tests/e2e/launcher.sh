#!/bin/bash
# The launcher and fail-closed start-up: tlsshim --check / --ciphers /
# --versions / --version, invalid policies stop the program before main,
# programs LD_PRELOAD cannot reach are refused.
. "$(dirname "$0")/lib.sh"
e2e_require python3

T=$E2E_TMP
MARK=$T/ran

# --- informational commands ---------------------------------------------------
out=$("$TLSSHIM" --version 2>&1) && grep -q "^tlsshim " <<<"$out" && pass version || fail version "$out"
out=$("$TLSSHIM" --versions 2>&1) && grep -q "tlsv1.2" <<<"$out" && pass versions || fail versions "$out"
out=$("$TLSSHIM" --ciphers 2>&1) && grep -q "ECDHE-RSA-AES128-GCM-SHA256" <<<"$out" &&
    grep -q "{ecdhe_rsa,aes_128_gcm" <<<"$out" && pass ciphers || fail ciphers "$(head -3 <<<"$out")"
out=$("$TLSSHIM" --help 2>&1) && grep -q "usage: tlsshim" <<<"$out" && pass help || fail help "$out"

# --- --check -----------------------------------------------------------------
write_policy "$T/good.ini" "[global]" "log = stderr" "" "[upstream]" "direction = connect" \
    "match = 127.0.0.1:8443" "server_name = localhost" "cacertfile = $PKI/ca.pem" "" \
    "[web]" "direction = accept" "match = *:8444" "certfile = $PKI/encrypted.pem" \
    "keyfile = $PKI/encrypted.key" "password = secret"
out=$("$TLSSHIM" --check -c "$T/good.ini" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q "upstream" <<<"$out" && grep -q "web" <<<"$out"; then
    pass check_valid_policy
else
    fail check_valid_policy "rc=$rc: $(head -5 <<<"$out" | tr '\n' ' ')"
fi
if grep -qx "; warnings" <<<"$out" && [ "$(sed -n '/^; warnings$/{n;p}' <<<"$out")" = "; none" ]; then
    pass check_no_warnings_for_a_sound_policy
else
    fail check_no_warnings_for_a_sound_policy "$(sed -n '/^; warnings$/,$p' <<<"$out" | tr '\n' ' ')"
fi

# --check ends with a warnings section for weak choices, each naming the rule
# and the file:line of its key; the check still passes (legacy clients are a
# reason to run tlsshim: the point is that nobody gets these by accident)
cp "$PKI/server.key" "$T/shared.key" && chmod 644 "$T/shared.key"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/soon.key" -out "$T/soon.pem" -days 10 \
    -subj /CN=soon >/dev/null 2>&1 && chmod 600 "$T/soon.key"
write_policy "$T/weak.ini" "[legacy]" "direction = accept" "match = *:8445" \
    "certfile = $PKI/server.pem" "keyfile = $T/shared.key" "versions = tlsv1, tlsv1.2" \
    "ciphers = RC4-MD5:ECDHE-RSA-AES128-GCM-SHA256" "security_level = 0" "" \
    "[soon]" "direction = accept" "match = *:8446" "certfile = $T/soon.pem" "keyfile = $T/soon.key" "" \
    "[insecure]" "direction = connect" "match = *:443" "verify = verify_none"
out=$("$TLSSHIM" --check -c "$T/weak.ini" 2>&1)
rc=$?
warn=$(sed -n '/^; warnings$/,$p' <<<"$out")
missing=
grep -q "^; \[legacy\] .*weak.ini:6: versions allows tlsv1, tlsv1.1" <<<"$warn" || missing+=" versions"
grep -q "^; \[legacy\] .*weak.ini:7: ciphers enables 1 legacy suite: RC4-MD5 (RC4)" <<<"$warn" || missing+=" ciphers"
grep -q "^; \[legacy\] .*weak.ini:5: keyfile .*shared.key is readable by every user (mode 0644)" <<<"$warn" ||
    missing+=" keyfile"
grep -Eq "^; \[soon\] .*weak.ini:13: the certificate expires in (9|10) days" <<<"$warn" || missing+=" expiry"
grep -q "^; \[insecure\] .*weak.ini:19: verify = verify_none on a connect rule" <<<"$warn" || missing+=" verify"
if [ $rc = 0 ] && [ -z "$missing" ]; then
    pass check_warns_about_weak_choices
else
    fail check_warns_about_weak_choices "rc=$rc, missing:$missing: $(tr '\n' '|' <<<"$warn")"
fi

write_policy "$T/unknown.ini" "[upstream]" "direction = connect" "match = 127.0.0.1:8443" \
    "no_such_key = 1"
out=$("$TLSSHIM" --check -c "$T/unknown.ini" 2>&1)
rc=$?
if [ $rc = 1 ] && grep -q "unknown.ini:4" <<<"$out"; then
    pass check_unknown_key
else
    fail check_unknown_key "rc=$rc: $out"
fi

write_policy "$T/badpass.ini" "[web]" "direction = accept" "match = *:8444" \
    "certfile = $PKI/encrypted.pem" "keyfile = $PKI/encrypted.key" "password = wrong"
out=$("$TLSSHIM" --check -c "$T/badpass.ini" 2>&1)
rc=$?
if [ $rc = 1 ] && grep -q "badpass.ini:[56]: \[web\] \(password\|keyfile\)" <<<"$out"; then
    pass check_wrong_password
else
    fail check_wrong_password "rc=$rc: $out"
fi

# --- fail closed: an invalid policy stops the program before main -------------
out=$("$TLSSHIM" -c "$T/unknown.ini" touch "$MARK" 2>&1)
rc=$?
if [ $rc != 0 ] && [ ! -e "$MARK" ] && grep -q "^tlsshim: " <<<"$out"; then
    pass launcher_refuses_invalid_policy
else
    fail launcher_refuses_invalid_policy "rc=$rc ran=$([ -e "$MARK" ] && echo yes): $out"
fi
out=$(LD_PRELOAD=$E2E_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 TLSSHIM_CONFIG=$T/badpass.ini touch "$MARK" 2>&1)
rc=$?
if [ $rc = 1 ] && [ ! -e "$MARK" ] && grep -q "^tlsshim: .*badpass.ini:[0-9]*: \[web\]" <<<"$out"; then
    pass preload_invalid_policy_exits_before_main
else
    fail preload_invalid_policy_exits_before_main "rc=$rc ran=$([ -e "$MARK" ] && echo yes): $out"
fi
out=$(env -u TLSSHIM_CONFIG LD_PRELOAD=$E2E_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 touch "$MARK" 2>&1)
rc=$?
if [ $rc = 1 ] && [ ! -e "$MARK" ] && grep -q "^tlsshim: TLSSHIM_CONFIG" <<<"$out"; then
    pass preload_without_policy_exits
else
    fail preload_without_policy_exits "rc=$rc: $out"
fi
out=$("$TLSSHIM" -c "$T/good.ini" touch "$MARK" 2>&1)
rc=$?
if [ $rc = 0 ] && [ -e "$MARK" ]; then
    pass launcher_runs_program
else
    fail launcher_runs_program "rc=$rc: $out"
fi
rm -f "$MARK"
out=$(cd "$T" && TLSSHIM_CONFIG=good.ini "$TLSSHIM" touch "$MARK" 2>&1)
rc=$?
if [ $rc = 0 ] && [ -e "$MARK" ]; then
    pass policy_from_environment
else
    fail policy_from_environment "rc=$rc: $out"
fi

# --- programs that LD_PRELOAD cannot reach are refused ------------------------
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    cp "$(type -P true)" "$T/suid-true" && chown nobody "$T/suid-true" && chmod 4755 "$T/suid-true"
    out=$("$TLSSHIM" -c "$T/good.ini" "$T/suid-true" 2>&1)
    rc=$?
    if [ $rc = 1 ] && grep -q "setuid" <<<"$out"; then
        pass refuses_setuid
    else
        fail refuses_setuid "rc=$rc: $out"
    fi
fi
if command -v cc >/dev/null && echo 'int main(void){return 0;}' >"$T/st.c" &&
    cc -static "$T/st.c" -o "$T/static-prog" 2>/dev/null; then
    out=$("$TLSSHIM" -c "$T/good.ini" "$T/static-prog" 2>&1)
    rc=$?
    if [ $rc = 1 ] && grep -q "statically linked" <<<"$out"; then
        pass refuses_static
    else
        fail refuses_static "rc=$rc: $out"
    fi
    # a script whose interpreter is static: what would be preloaded is the interpreter
    printf '#!/usr/bin/env static-prog\n' >"$T/script.sh" && chmod +x "$T/script.sh"
    out=$(PATH=$T:$PATH "$TLSSHIM" -c "$T/good.ini" "$T/script.sh" 2>&1)
    rc=$?
    if [ $rc = 1 ] && grep -q "static-prog is statically linked" <<<"$out"; then
        pass refuses_static_interpreter
    else
        fail refuses_static_interpreter "rc=$rc: $out"
    fi
fi
out=$("$TLSSHIM" -c "$T/good.ini" no-such-program-$$ 2>&1)
rc=$?
[ $rc = 127 ] && pass missing_program_127 || fail missing_program_127 "rc=$rc: $out"

e2e_done
