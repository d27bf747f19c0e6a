#!/usr/bin/env bash
# The main job on a fresh Debian machine: build and install the module, initialise a token in a
# local directory (./demo-tokens), and use it from a real PKCS#11 host (OpenSC's pkcs11-tool), then
# through the TSB-compatible REST service (softhsm-py serve --dev) with curl.
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
# Read without logging in (a public key is a public object): pkcs11-tool 0.23 builds the EC key it
# exports from freed memory, which a login's heap can break (README, "With real hosts").
pkcs11-tool --module "$module" --token-label demo --read-object --type pubkey --id 01 -o demo-tokens/demo-key.der
openssl pkey -pubin -inform DER -in demo-tokens/demo-key.der -out demo-tokens/demo-key.pem
openssl dgst -sha256 -verify demo-tokens/demo-key.pem -signature demo-tokens/message.sig demo-tokens/message.txt

# The same token through the TSB-compatible REST service (development mode: plain HTTP, loopback,
# no authentication): create an RSA key, sign with SHA224_WITH_RSA_PSS, verify with OpenSSL.
port="${DEMO_REST_PORT:-8787}"
SOFTHSM_PY_PIN=123456 .venv/bin/softhsm-py serve --dev --listen "127.0.0.1:$port" --partition demo \
    > demo-tokens/serve.log 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null || true' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 1 150); do
    curl -sf "$url/v1/versionInfo" >/dev/null && break
    kill -0 "$serve_pid" 2>/dev/null || { cat demo-tokens/serve.log; exit 1; }
    sleep 0.2
done
json() { .venv/bin/python -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }
curl -s -X POST "$url/v1/key/deleteKey" -H 'Content-Type: application/json' -d '{"label": "demo-rsa"}' >/dev/null
curl -sf -X POST "$url/v1/key" -H 'Content-Type: application/json' -d '{
    "label": "demo-rsa", "algorithm": "RSA", "keySize": 2048,
    "attributes": {"decrypt": false, "sign": true, "unwrap": false, "destroyable": true}}' \
    | json 'd["json"]["publicKey"]' | base64 -d > demo-tokens/demo-rsa.der
openssl pkey -pubin -inform DER -in demo-tokens/demo-rsa.der -out demo-tokens/demo-rsa.pem
printf 'signed through the REST API\n' > demo-tokens/rest-message.txt
payload="$(base64 -w0 demo-tokens/rest-message.txt)"
curl -sf -X POST "$url/v1/synchronousSign" -H 'Content-Type: application/json' -d '{"signRequest": {
    "payload": "'"$payload"'", "signKeyName": "demo-rsa", "signatureAlgorithm": "SHA224_WITH_RSA_PSS"}}' \
    | json 'd["signature"]' | base64 -d > demo-tokens/rest-message.sig
openssl dgst -sha224 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:28 -verify demo-tokens/demo-rsa.pem \
    -signature demo-tokens/rest-message.sig demo-tokens/rest-message.txt
echo "REST: $url/swagger-ui/index.html served the same token while this ran"
echo "token directory: $PWD/demo-tokens (SOFTHSM_PY_CONF=$SOFTHSM_PY_CONF)"
