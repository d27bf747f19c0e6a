"""OpenSC's pkcs11-tool against the built library: slots, mechanisms, token and PIN set-up, key
generation (RSA-2048, EC P-256, Ed25519, AES), sign/verify, encrypt/decrypt, a key with
CKA_ALWAYS_AUTHENTICATE, reading and deleting objects. Every signature and ciphertext is checked
outside the token with pyca/cryptography."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from support.hosts import Token, assert_no_traceback, make_token, require

MESSAGE = b"softhsm-py signs this message for pkcs11-tool\n"


@pytest.fixture
def token(tmp_path: Path) -> Token:
    require("pkcs11-tool")
    return make_token(tmp_path / "hsm")


# pkcs11-tool 0.23 (Debian 12) exports an EC public key from freed memory (read_object merges
# OSSL_PARAMs, frees the originals, then builds the key from the merge): whether it works depends on
# the heap, and a login (which loads pyca/cryptography into the host for the PIN's scrypt) made it
# fail. Public keys are public objects: read them without logging in.
def public_key(token: Token, key_id: str, tmp_path: Path):
    out = tmp_path / f"pub-{key_id}"
    token.tool("--read-object", "--type", "pubkey", "--id", key_id, "-o", str(out), login=False)
    data = out.read_bytes()
    if data.startswith(b"-----BEGIN"):
        return serialization.load_pem_public_key(data)
    return serialization.load_der_public_key(data)


def sign(token: Token, key_id: str, mechanism: str, data: bytes, tmp_path: Path, *extra: str) -> bytes:
    src, sig = tmp_path / "in.bin", tmp_path / "sig.bin"
    src.write_bytes(data)
    token.tool("--sign", "--id", key_id, "-m", mechanism, "-i", str(src), "-o", str(sig), *extra)
    return sig.read_bytes()


def test_list_slots_mechanisms_init_token_and_pin(tmp_path: Path) -> None:
    require("pkcs11-tool")
    token = make_token(tmp_path / "hsm", init=False)
    slots = token.run(["pkcs11-tool", "--module", token.module, "--list-slots"]).stdout.decode()
    assert "token state:   uninitialized" in slots or "uninitialized" in slots, slots

    base = ["pkcs11-tool", "--module", token.module]
    token.run([*base, "--slot", "0", "--init-token", "--label", "ptool", "--so-pin", token.so_pin])
    token.run(
        [
            *base,
            "--token-label",
            "ptool",
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            token.so_pin,
            "--init-pin",
            "--pin",
            token.pin,
        ]
    )
    slots = token.run([*base, "--list-slots"]).stdout.decode()
    assert "token label        : ptool" in slots, slots
    assert "PIN initialized" in slots, slots
    # C_InitToken on the empty slot made a new partition: there is again one uninitialised slot
    assert "uninitialized" in slots, slots

    # the user PIN works, a wrong one does not
    token.run([*base, "--token-label", "ptool", "--login", "--pin", token.pin, "--list-objects"])
    bad = token.run(
        [*base, "--token-label", "ptool", "--login", "--pin", "000000", "--list-objects"], check=False
    )
    assert bad.returncode != 0 and b"CKR_PIN_INCORRECT" in bad.stderr + bad.stdout
    # change the user PIN
    token.run(
        [
            *base,
            "--token-label",
            "ptool",
            "--login",
            "--pin",
            token.pin,
            "--change-pin",
            "--new-pin",
            "654321",
        ]
    )
    token.run([*base, "--token-label", "ptool", "--login", "--pin", "654321", "--list-objects"])

    mechs = token.run([*base, "--token-label", "ptool", "--list-mechanisms"]).stdout.decode()
    names = {line.strip().split(",")[0] for line in mechs.splitlines()[1:]}
    for name in (
        "RSA-PKCS-KEY-PAIR-GEN",
        "RSA-PKCS",
        "SHA256-RSA-PKCS",
        "RSA-PKCS-OAEP",
        "RSA-PKCS-PSS",
        "ECDSA",
        "ECDSA-SHA256",
        "ECDSA-KEY-PAIR-GEN",
        "EC-EDWARDS-KEY-PAIR-GEN",
        "EDDSA",
        "AES-KEY-GEN",
        "AES-CBC-PAD",
        "AES-ECB",
        "AES-GCM",
        "SHA256",
        "SHA256-HMAC",
    ):
        assert name in names, (name, mechs)
    assert_no_traceback(token)


def test_rsa_2048_sign_verify_encrypt_decrypt(token: Token, tmp_path: Path) -> None:
    token.tool("--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "rsa")
    pub = public_key(token, "01", tmp_path)
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 2048

    # PKCS#1 v1.5 with SHA-256, hashed on the token
    sig = sign(token, "01", "SHA256-RSA-PKCS", MESSAGE, tmp_path)
    pub.verify(sig, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    # the token verifies its own signature too
    (tmp_path / "sig.bin").write_bytes(sig)
    token.tool(
        "--verify",
        "--id",
        "01",
        "-m",
        "SHA256-RSA-PKCS",
        "-i",
        str(tmp_path / "in.bin"),
        "--signature-file",
        str(tmp_path / "sig.bin"),
    )

    # PSS with SHA-256 / MGF1-SHA256, salt = digest length
    sig = sign(token, "01", "SHA256-RSA-PKCS-PSS", MESSAGE, tmp_path)
    pub.verify(sig, MESSAGE, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())

    # OAEP-SHA256 / MGF1-SHA256: encrypted outside, decrypted on the token
    secret = os.urandom(32)
    ct = pub.encrypt(
        secret, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    (tmp_path / "ct.bin").write_bytes(ct)
    token.tool(
        "--decrypt",
        "--id",
        "01",
        "-m",
        "RSA-PKCS-OAEP",
        "--hash-algorithm",
        "SHA256",
        "--mgf",
        "MGF1-SHA256",
        "-i",
        str(tmp_path / "ct.bin"),
        "-o",
        str(tmp_path / "pt.bin"),
    )
    assert (tmp_path / "pt.bin").read_bytes() == secret

    # PKCS#1 v1.5 encryption: encrypted outside, decrypted on the token
    ct = pub.encrypt(secret, padding.PKCS1v15())
    (tmp_path / "ct.bin").write_bytes(ct)
    token.tool(
        "--decrypt",
        "--id",
        "01",
        "-m",
        "RSA-PKCS",
        "-i",
        str(tmp_path / "ct.bin"),
        "-o",
        str(tmp_path / "pt.bin"),
    )
    assert (tmp_path / "pt.bin").read_bytes() == secret
    assert_no_traceback(token)


def test_ec_p256_sign_verify(token: Token, tmp_path: Path) -> None:
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec")
    pub = public_key(token, "02", tmp_path)
    assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1"

    der = sign(token, "02", "ECDSA-SHA256", MESSAGE, tmp_path, "--signature-format", "openssl")
    pub.verify(der, MESSAGE, ec.ECDSA(hashes.SHA256()))

    # raw CKM_ECDSA over a digest made outside (what libp11 and OpenSSH do), r||s output
    digest = hashes.Hash(hashes.SHA256())
    digest.update(MESSAGE)
    raw = sign(token, "02", "ECDSA", digest.finalize(), tmp_path)
    assert len(raw) == 64
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    pub.verify(encode_dss_signature(r, s), MESSAGE, ec.ECDSA(hashes.SHA256()))
    token.tool(
        "--verify",
        "--id",
        "02",
        "-m",
        "ECDSA",
        "-i",
        str(tmp_path / "in.bin"),
        "--signature-file",
        str(tmp_path / "sig.bin"),
    )
    assert_no_traceback(token)


def test_ed25519_sign_verify(token: Token, tmp_path: Path) -> None:
    token.tool("--keypairgen", "--key-type", "EC:edwards25519", "--id", "03", "--label", "ed")
    pub = public_key(token, "03", tmp_path)
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    sig = sign(token, "03", "EDDSA", MESSAGE, tmp_path)
    assert len(sig) == 64
    pub.verify(sig, MESSAGE)
    assert_no_traceback(token)


def test_aes_generate_and_known_key_encrypt_decrypt(token: Token, tmp_path: Path) -> None:
    # a generated AES-256 key: round trip on the token
    token.tool("--keygen", "--key-type", "AES:32", "--id", "04", "--label", "aes-gen")
    iv = os.urandom(16).hex()
    data = os.urandom(100)
    (tmp_path / "pt.bin").write_bytes(data)
    token.tool(
        "--encrypt",
        "--id",
        "04",
        "-m",
        "AES-CBC-PAD",
        "--iv",
        iv,
        "-i",
        str(tmp_path / "pt.bin"),
        "-o",
        str(tmp_path / "ct.bin"),
    )
    token.tool(
        "--decrypt",
        "--id",
        "04",
        "-m",
        "AES-CBC-PAD",
        "--iv",
        iv,
        "-i",
        str(tmp_path / "ct.bin"),
        "-o",
        str(tmp_path / "back.bin"),
    )
    assert (tmp_path / "back.bin").read_bytes() == data
    # a sensitive generated key cannot be read out
    out = token.tool(
        "--read-object", "--type", "secrkey", "--id", "04", "-o", str(tmp_path / "k"), check=False
    )
    assert out.returncode != 0 or not (tmp_path / "k").exists() or (tmp_path / "k").read_bytes() == b""

    # a known key written to the token: the ciphertexts match cryptography's
    key = os.urandom(32)
    (tmp_path / "key.bin").write_bytes(key)
    token.tool(
        "--write-object",
        str(tmp_path / "key.bin"),
        "--type",
        "secrkey",
        "--key-type",
        "AES:32",
        "--id",
        "05",
        "--label",
        "aes-known",
        "--usage-decrypt",
    )
    ivb = os.urandom(16)
    for mech, mode, pad in (
        ("AES-CBC-PAD", modes.CBC(ivb), True),
        ("AES-CBC", modes.CBC(ivb), False),
        ("AES-ECB", modes.ECB(), False),
    ):
        plain = data if pad else data[:96]
        extra = ("--iv", ivb.hex()) if mech != "AES-ECB" else ()
        (tmp_path / "pt.bin").write_bytes(plain)
        token.tool(
            "--encrypt",
            "--id",
            "05",
            "-m",
            mech,
            *extra,
            "-i",
            str(tmp_path / "pt.bin"),
            "-o",
            str(tmp_path / "ct.bin"),
        )
        padded = plain
        if pad:
            n = 16 - len(plain) % 16
            padded = plain + bytes([n]) * n
        enc = Cipher(algorithms.AES(key), mode).encryptor()
        assert (tmp_path / "ct.bin").read_bytes() == enc.update(padded) + enc.finalize(), mech
        token.tool(
            "--decrypt",
            "--id",
            "05",
            "-m",
            mech,
            *extra,
            "-i",
            str(tmp_path / "ct.bin"),
            "-o",
            str(tmp_path / "back.bin"),
        )
        assert (tmp_path / "back.bin").read_bytes() == plain, mech
    assert_no_traceback(token)


def test_always_authenticate_key(token: Token, tmp_path: Path) -> None:
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "06", "--label", "aa", "--always-auth")
    listing = token.tool("--list-objects", "--type", "privkey").stdout.decode()
    assert "always authenticate" in listing, listing
    pub = public_key(token, "06", tmp_path)
    # pkcs11-tool does C_SignInit, C_Login(CKU_CONTEXT_SPECIFIC), C_Sign
    der = sign(token, "06", "ECDSA-SHA256", MESSAGE, tmp_path, "--signature-format", "openssl")
    pub.verify(der, MESSAGE, ec.ECDSA(hashes.SHA256()))
    assert_no_traceback(token)


def test_read_and_delete_objects(token: Token, tmp_path: Path) -> None:
    blob = b"a data object written by pkcs11-tool\n"
    (tmp_path / "data.bin").write_bytes(blob)
    token.tool(
        "--write-object",
        str(tmp_path / "data.bin"),
        "--type",
        "data",
        "--label",
        "note",
        "--application-label",
        "tests",
    )
    token.tool("--read-object", "--type", "data", "--label", "note", "-o", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == blob

    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "07", "--label", "gone")
    listing = token.tool("--list-objects").stdout.decode()
    assert "label:      gone" in listing and "'note'" in listing, listing

    token.tool("--delete-object", "--type", "data", "--label", "note")
    token.tool("--delete-object", "--type", "privkey", "--id", "07")
    token.tool("--delete-object", "--type", "pubkey", "--id", "07")
    listing = token.tool("--list-objects").stdout.decode()
    assert "note" not in listing and "gone" not in listing, listing
    assert_no_traceback(token)
