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
p11() { pkcs11-tool --module "$module" --token-label demo --login --pin 123456 "$@"; }
p11 --generate-random 16 | od -An -tx1
# An EC key made and kept in the token; it signs, and OpenSSL verifies outside the token.
p11 --list-objects --type privkey | grep -q "demo-key" ||
    p11 --keypairgen --key-type EC:prime256v1 --id 01 --label demo-key >/dev/null
printf 'signed by softhsm-py\n' > demo-tokens/message.txt
p11 --sign --id 01 -m ECDSA-SHA256 --signature-format openssl \
    -i demo-tokens/message.txt -o demo-tokens/message.sig
p11 --read-object --type pubkey --id 01 -o demo-tokens/demo-key.der
openssl pkey -pubin -inform DER -in demo-tokens/demo-key.der -out demo-tokens/demo-key.pem
openssl dgst -sha256 -verify demo-tokens/demo-key.pem -signature demo-tokens/message.sig demo-tokens/message.txt
echo "token directory: $PWD/demo-tokens (SOFTHSM_PY_CONF=$SOFTHSM_PY_CONF)"
