#!/usr/bin/env bash
# The main job on a fresh Debian machine: build and install the module, initialise a token in a
# local directory (./demo-tokens), and use it from a real PKCS#11 host (OpenSC's pkcs11-tool).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/venv.sh
mkdir -p demo-tokens
export SOFTHSM_PY_CONF="$PWD/demo-tokens/softhsm-py.toml"
[ -f "$SOFTHSM_PY_CONF" ] || printf 'token_dir = "."\n' > "$SOFTHSM_PY_CONF"
module="$(.venv/bin/softhsm-py module-path)"
echo "module: $module"
if ! .venv/bin/softhsm-py list-slots | grep -q "token 'demo'"; then
    .venv/bin/softhsm-py init-token --label demo --so-pin 12345678 --pin 123456
fi
pkcs11-tool --module "$module" --show-info
pkcs11-tool --module "$module" --list-slots
pkcs11-tool --module "$module" --token-label demo --login --pin 123456 --generate-random 16 | od -An -tx1
echo "token directory: $PWD/demo-tokens (SOFTHSM_PY_CONF=$SOFTHSM_PY_CONF)"
