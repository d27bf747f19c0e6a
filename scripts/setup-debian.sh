#!/usr/bin/env bash
# Install the Debian packages that softhsm-py's demo and tests use (skips what is installed).
#   opensc: pkcs11-tool        softhsm2: the reference module     gcc: the small C test hosts
#   libengine-pkcs11-openssl, gnutls-bin, libnss3-tools, p11-kit, openssh-client: real PKCS#11 hosts
set -euo pipefail
packages=(opensc softhsm2 gcc libengine-pkcs11-openssl gnutls-bin libnss3-tools p11-kit openssh-client)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
