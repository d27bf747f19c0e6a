"""RSA: key loading from PKCS#11 attribute values, generation, PKCS#1 v1.5, PSS, OAEP and raw RSA.

Big integers come and go as big-endian bytes (CKA_MODULUS, ...). Hash names and DigestInfo
prefixes are those of ``engine.hash_table``. Signing with a caller-built DigestInfo of a hash in
that table goes through OpenSSL; anything else (raw RSA_X_509, unusual DigestInfo) uses a blinded
CRT exponentiation here, because cryptography offers no raw RSA private operation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from softhsm_py import errors
from softhsm_py.engine import hashes
from softhsm_py.engine.errmap import mapped
from softhsm_py.engine.hash_table import HASHES

PrivateKey = rsa.RSAPrivateKey
PublicKey = rsa.RSAPublicKey

# DigestInfo prefix (RFC 8017 9.2 note 1) -> hash: prefix + digest is what RSA_PKCS signs.
_DIGEST_INFO: tuple[tuple[bytes, str, int], ...] = tuple(
    (h.digest_info_prefix, h.name, len(h.digest_info_prefix) + h.size) for h in HASHES
)


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _bytes(i: int, length: int | None = None) -> bytes:
    return i.to_bytes(length if length is not None else max(1, (i.bit_length() + 7) // 8), "big")


def load_public(n: bytes, e: bytes) -> PublicKey:
    with mapped(errors.GeneralError):  # keycheck validated the values at creation
        return rsa.RSAPublicNumbers(_int(e), _int(n)).public_key()


def load_private(
    n: bytes,
    e: bytes,
    d: bytes,
    p: bytes | None = None,
    q: bytes | None = None,
    dp: bytes | None = None,
    dq: bytes | None = None,
    qinv: bytes | None = None,
) -> PrivateKey:
    """A private key from a stored object's attributes; CRT parts are recomputed when any is
    missing.

    OpenSSL's key check (p*q == n, the CRT values, e*d; ~30 ms for 2048 bits, ~200 ms for 4096)
    is skipped: key material is checked once, when it enters the token (``engine.keycheck``, run
    by the object factory for every create, unwrap, derive and import; a generated key is right by
    construction), and a token object is read back only from the store, which seals every object
    under the token's keys with AES-GCM, its row bound in the AAD (``store/sealed.py``): a stored
    value nobody changed through the factory fails authentication instead of reaching here."""
    ni, ei, di = _int(n), _int(e), _int(d)
    with mapped(errors.GeneralError):
        if not (p and q):
            pi, qi = rsa.rsa_recover_prime_factors(ni, ei, di)
        else:
            pi, qi = _int(p), _int(q)
        dpi = _int(dp) if dp else rsa.rsa_crt_dmp1(di, pi)
        dqi = _int(dq) if dq else rsa.rsa_crt_dmq1(di, qi)
        qinvi = _int(qinv) if qinv else rsa.rsa_crt_iqmp(pi, qi)
        public = rsa.RSAPublicNumbers(ei, ni)
        numbers = rsa.RSAPrivateNumbers(pi, qi, di, dpi, dqi, qinvi, public)
        return numbers.private_key(unsafe_skip_rsa_key_validation=True)


@dataclass(frozen=True)
class Material:
    """Generated key parts as attribute bytes."""

    n: bytes
    e: bytes
    d: bytes
    p: bytes
    q: bytes
    dp: bytes
    dq: bytes
    qinv: bytes
    spki: bytes  # CKA_PUBLIC_KEY_INFO


def generate(bits: int, e: int = 65537) -> Material:
    """cryptography generates only e = 3 or 65537 and at least 1024 bits: else AttributeValueInvalid."""
    with mapped(errors.AttributeValueInvalid):
        key = rsa.generate_private_key(e, bits)
    nums = key.private_numbers()
    pub = nums.public_numbers
    return Material(
        n=_bytes(pub.n),
        e=_bytes(pub.e),
        d=_bytes(nums.d),
        p=_bytes(nums.p),
        q=_bytes(nums.q),
        dp=_bytes(nums.dmp1),
        dq=_bytes(nums.dmq1),
        qinv=_bytes(nums.iqmp),
        spki=key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def modulus_len(key: PrivateKey | PublicKey) -> int:
    return (key.key_size + 7) // 8


# --- raw RSA (RSA_X_509 and non-DigestInfo RSA_PKCS) -------------------------------------------


def raw_public(key: PublicKey, data: bytes) -> bytes:
    """data^e mod n, output k bytes; data as an integer must be below n."""
    nums = key.public_numbers()
    m = _int(data)
    if m >= nums.n:
        raise errors.DataLenRange()
    return _bytes(pow(m, nums.e, nums.n), modulus_len(key))


def raw_private(key: PrivateKey, data: bytes) -> bytes:
    """data^d mod n with blinding and CRT, checked against the public key (fault attacks)."""
    nums = key.private_numbers()
    n, e = nums.public_numbers.n, nums.public_numbers.e
    m = _int(data)
    if m >= n:
        raise errors.DataLenRange()
    while True:
        r = secrets.randbelow(n - 2) + 2
        try:
            r_inv = pow(r, -1, n)
            break
        except ValueError:  # r shares a factor with n: astronomically unlikely, draw again
            continue
    blinded = (m * pow(r, e, n)) % n
    m1 = pow(blinded, nums.dmp1, nums.p)
    m2 = pow(blinded, nums.dmq1, nums.q)
    h = (nums.iqmp * (m1 - m2)) % nums.p
    s = ((m2 + h * nums.q) * r_inv) % n
    if pow(s, e, n) != m:
        raise errors.GeneralError()
    return _bytes(s, modulus_len(key))


def _emsa_pkcs1_type1(data: bytes, k: int) -> bytes:
    """EB = 00 01 FF..FF 00 data with at least 8 FF bytes (RFC 8017 9.2 step 5)."""
    if len(data) > k - 11:
        raise errors.DataLenRange()
    return b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data


def _known_digest_info(data: bytes) -> tuple[str, bytes] | None:
    for prefix, name, length in _DIGEST_INFO:
        if len(data) == length and data.startswith(prefix):
            return name, data[len(prefix) :]
    return None


def sign_pkcs1(key: PrivateKey, data: bytes) -> bytes:
    """CKM_RSA_PKCS signature over caller-supplied data (normally a DigestInfo)."""
    k = modulus_len(key)
    encoded = _emsa_pkcs1_type1(data, k)
    known = _known_digest_info(data)
    if known is not None:
        return sign_pkcs1_digest(key, known[0], known[1])
    return raw_private(key, encoded)


def verify_pkcs1(key: PublicKey, data: bytes, signature: bytes) -> None:
    k = modulus_len(key)
    if len(signature) != k:
        raise errors.SignatureLenRange()
    expected = _emsa_pkcs1_type1(data, k)
    if _int(signature) >= key.public_numbers().n:
        raise errors.SignatureInvalid()
    if not hashes.equal(raw_public(key, signature), expected):
        raise errors.SignatureInvalid()


_PKCS1V15 = padding.PKCS1v15()  # holds no state
_PREHASHED: dict[str, utils.Prehashed] = {}


def _prehashed(hash_name: str) -> utils.Prehashed:
    pre = _PREHASHED.get(hash_name)
    if pre is None:
        pre = utils.Prehashed(hashes.algorithm(hash_name))  # MechanismInvalid for an unknown name
        _PREHASHED[hash_name] = pre
    return pre


def sign_pkcs1_digest(key: PrivateKey, hash_name: str, digest: bytes) -> bytes:
    pre = _prehashed(hash_name)
    # mapped(errors.DataLenRange), entered only on failure: a context manager on every call costs
    # more than the rest of this function.
    try:
        return key.sign(digest, _PKCS1V15, pre)
    except Exception:
        with mapped(errors.DataLenRange):
            raise


def verify_pkcs1_digest(key: PublicKey, hash_name: str, digest: bytes, signature: bytes) -> None:
    if len(signature) != modulus_len(key):
        raise errors.SignatureLenRange()
    pre = _prehashed(hash_name)
    try:  # mapped(errors.SignatureInvalid), entered only on failure
        key.verify(signature, digest, _PKCS1V15, pre)
    except Exception:
        with mapped(errors.SignatureInvalid):
            raise


# --- PSS ---------------------------------------------------------------------------------------


def pss_max_salt(key: PrivateKey | PublicKey, hash_name: str) -> int:
    """emLen - hLen - 2 (RFC 8017 9.1.1), emLen = ceil((modBits - 1) / 8)."""
    return (key.key_size - 1 + 7) // 8 - hashes.digest_size(hash_name) - 2


def _pss(mgf_hash: str, salt_len: int) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.algorithm(mgf_hash)), salt_length=salt_len)


def sign_pss(key: PrivateKey, hash_name: str, mgf_hash: str, salt_len: int, digest: bytes) -> bytes:
    with mapped(errors.DataLenRange):
        return key.sign(digest, _pss(mgf_hash, salt_len), utils.Prehashed(hashes.algorithm(hash_name)))


def verify_pss(
    key: PublicKey, hash_name: str, mgf_hash: str, salt_len: int, digest: bytes, signature: bytes
) -> None:
    if len(signature) != modulus_len(key):
        raise errors.SignatureLenRange()
    with mapped(errors.SignatureInvalid):
        key.verify(signature, digest, _pss(mgf_hash, salt_len), utils.Prehashed(hashes.algorithm(hash_name)))


# --- encryption --------------------------------------------------------------------------------


def encrypt_pkcs1(key: PublicKey, data: bytes) -> bytes:
    if len(data) > modulus_len(key) - 11:
        raise errors.DataLenRange()
    with mapped(errors.DataLenRange):
        return key.encrypt(data, padding.PKCS1v15())


def decrypt_pkcs1(key: PrivateKey, data: bytes) -> bytes:
    """OpenSSL applies implicit rejection (Marvin): bad padding yields random bytes, not an error."""
    if len(data) != modulus_len(key):
        raise errors.EncryptedDataLenRange()
    with mapped(errors.EncryptedDataInvalid):
        return key.decrypt(data, padding.PKCS1v15())


def _oaep(hash_name: str, mgf_hash: str, label: bytes) -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(hashes.algorithm(mgf_hash)),
        algorithm=hashes.algorithm(hash_name),
        label=label or None,
    )


def oaep_max_data(key: PrivateKey | PublicKey, hash_name: str) -> int:
    return modulus_len(key) - 2 * hashes.digest_size(hash_name) - 2


def encrypt_oaep(key: PublicKey, hash_name: str, mgf_hash: str, label: bytes, data: bytes) -> bytes:
    if len(data) > oaep_max_data(key, hash_name):
        raise errors.DataLenRange()
    with mapped(errors.DataLenRange):
        return key.encrypt(data, _oaep(hash_name, mgf_hash, label))


def decrypt_oaep(key: PrivateKey, hash_name: str, mgf_hash: str, label: bytes, data: bytes) -> bytes:
    if len(data) != modulus_len(key):
        raise errors.EncryptedDataLenRange()
    with mapped(errors.EncryptedDataInvalid):
        return key.decrypt(data, _oaep(hash_name, mgf_hash, label))
