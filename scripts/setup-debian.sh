#!/usr/bin/env bash
# Install the Debian packages that softhsm-py's demo and tests use (skips what is installed).
#   opensc: pkcs11-tool (and pkcs11-spy)   softhsm2: the reference module   gcc: the small C test hosts
#   libssl-dev: OpenSSL 3's headers, for the C host that clones a digest through pkcs11-provider
#   real PKCS#11 hosts: libengine-pkcs11-openssl (OpenSSL engine), pkcs11-provider (OpenSSL 3
#   provider, only in bookworm-backports), gnutls-bin (p11tool, certtool), libnss3-tools (modutil,
#   certutil), p11-kit (p11-kit server and its client module), openjdk-17-jdk-headless (SunPKCS11,
#   keytool, javac), openssh-client (ssh-keygen, ssh-agent, ssh-add)
set -euo pipefail
"$(dirname "$0")/setup-rest.sh"  # the REST service's test tools (Go, Chromium)
packages=(opensc softhsm2 gcc libssl-dev libengine-pkcs11-openssl gnutls-bin libnss3-tools p11-kit
          openjdk-17-jdk-headless openssh-client)
backports=(pkcs11-provider)
backports_suite="bookworm-backports"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for pkg in "${packages[@]}"; do installed "$pkg" || missing+=("$pkg"); done
missing_bp=()
for pkg in "${backports[@]}"; do installed "$pkg" || missing_bp+=("$pkg"); done
((${#missing[@]} + ${#missing_bp[@]})) || exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ((${#missing_bp[@]})); then
    # pkcs11-provider is only packaged for Debian 12 in bookworm-backports
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    if [ "$codename" = "bookworm" ] && ! grep -rqs "$backports_suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "adding the $backports_suite suite"
        echo "deb http://deb.debian.org/debian $backports_suite main" |
            $sudo tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
    fi
fi
echo "installing Debian packages: ${missing[*]} ${missing_bp[*]}"
$sudo apt-get update -qq
apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends)
if ((${#missing[@]})); then
    $sudo "${apt[@]}" "${missing[@]}" >/dev/null
fi
if ((${#missing_bp[@]})); then
    if [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = "bookworm" ]; then
        $sudo "${apt[@]}" -t "$backports_suite" "${missing_bp[@]}" >/dev/null
    else
        $sudo "${apt[@]}" "${missing_bp[@]}" >/dev/null
    fi
fi
