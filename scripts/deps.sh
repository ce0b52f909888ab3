#!/bin/sh
# Installs the Debian packages the build and the tests need, if any is missing.
# Idempotent: does nothing when everything is there.
set -eu
PKGS="build-essential pkg-config libssl-dev libinih-dev libcriterion-dev openssl gnutls-bin
      curl socat netcat-openbsd nginx-light python3 python3-ecdsa tshark clang libclang-rt-14-dev
      testssl.sh redis-server redis-tools stunnel4 python3-prometheus-client man-db groff-base"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "deps: missing packages and not root; run as root: apt-get install -y$missing" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
