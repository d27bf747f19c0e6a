#!/usr/bin/env bash
# Debian packages for the REST service's tests (skips what is installed):
#   golang-1.19-go: builds and runs tsb-client-go, the official Go TSB client, offline (stdlib only)
#   chromium: renders the Swagger UI page headless
#   curl: the demo's two requests
set -euo pipefail
packages=(golang-1.19-go chromium curl)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for pkg in "${packages[@]}"; do installed "$pkg" || missing+=("$pkg"); done
((${#missing[@]})) || exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
