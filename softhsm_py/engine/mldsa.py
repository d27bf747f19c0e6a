"""ML-DSA (FIPS 204) on pyca/cryptography: keys from their seed, pure and HashML-DSA signatures.

pyca/cryptography signs ML-DSA-44/65/87 hedged (never deterministically), with an optional
context, and signs a caller's 64-byte message representative mu (``sign_mu``). HashML-DSA
(FIPS 204, 5.4) is the same signature over the mu of M' = 1 || len(ctx) || ctx || OID(hash) ||
PH(M): that mu is computed here (Algorithm 7 step 6, with tr = SHAKE256(pk, 64)) and signed with
``sign_mu``. Keys load from their 32-byte seed; the expanded ``sk`` comes from ``engine.lattice``.

cryptography is imported inside the functions: the key-type specs import this module and module
start must not pay for it.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager as ContextManager
from typing import Any

from softhsm_py import errors
from softhsm_py.engine import asn1, lattice

SEED_LEN = 32
MU_LEN = 64
CONTEXT_MAX = 255


def _mapped(value_error: type[errors.PKCS11Error] | None = None) -> ContextManager[None]:
    from softhsm_py.engine.errmap import mapped  # imports cryptography: not at module start

    return mapped(value_error)


class ParameterSet:
    """One ML-DSA parameter set (FIPS 204, Table 1 and 2); ``ckp`` is its CKP_ML_DSA_* value."""

    __slots__ = ("ckp", "eta", "k", "l", "name", "oid", "public_len", "signature_len", "sk_len")

    def __init__(
        self,
        ckp: int,
        name: str,
        oid: str,
        k: int,
        l: int,  # noqa: E741 (FIPS 204's name)
        eta: int,
        public_len: int,
        sk_len: int,
        signature_len: int,
    ) -> None:
        self.ckp, self.name, self.oid = ckp, name, oid
        self.k, self.l, self.eta = k, l, eta
        self.public_len, self.sk_len, self.signature_len = public_len, sk_len, signature_len

    def __repr__(self) -> str:
        return f"ParameterSet({self.name})"


_NIST_SIG = "2.16.840.1.101.3.4.3."
SETS: dict[int, ParameterSet] = {
    s.ckp: s
    for s in (
        ParameterSet(1, "ML-DSA-44", _NIST_SIG + "17", 4, 4, 2, 1312, 2560, 2420),
        ParameterSet(2, "ML-DSA-65", _NIST_SIG + "18", 6, 5, 4, 1952, 4032, 3309),
        ParameterSet(3, "ML-DSA-87", _NIST_SIG + "19", 8, 7, 2, 2592, 4896, 4627),
    )
}
BY_OID = {s.oid: s for s in SETS.values()}
PUBLIC_LENS = sorted(s.public_len for s in SETS.values())

# The pre-hash functions of HashML-DSA (FIPS 204, 5.4.1): hash name -> (OID, output length);
# the SHA-2 and SHA-3 names are those of ``hash_table``.
_NIST_HASH = "2.16.840.1.101.3.4.2."
PREHASHES: dict[str, tuple[str, int]] = {
    "sha224": (_NIST_HASH + "4", 28),
    "sha256": (_NIST_HASH + "1", 32),
    "sha384": (_NIST_HASH + "2", 48),
    "sha512": (_NIST_HASH + "3", 64),
    "sha512-224": (_NIST_HASH + "5", 28),
    "sha512-256": (_NIST_HASH + "6", 32),
    "sha3-224": (_NIST_HASH + "7", 28),
    "sha3-256": (_NIST_HASH + "8", 32),
    "sha3-384": (_NIST_HASH + "9", 48),
    "sha3-512": (_NIST_HASH + "10", 64),
    "shake128": (_NIST_HASH + "11", 32),
    "shake256": (_NIST_HASH + "12", 64),
}


def parameter_set(ckp: Any) -> ParameterSet:
    """The set CKA_PARAMETER_SET names; ParameterSetNotSupported for any other value."""
    found = SETS.get(ckp) if isinstance(ckp, int) else None
    if found is None:
        raise errors.ParameterSetNotSupported()
    return found


def _module() -> Any:
    from cryptography.hazmat.primitives.asymmetric import mldsa

    return mldsa


def _classes(ps: ParameterSet) -> tuple[Any, Any]:
    mldsa = _module()
    tag = ps.name.replace("-", "")  # MLDSA44
    return getattr(mldsa, f"{tag}PrivateKey"), getattr(mldsa, f"{tag}PublicKey")


# --- keys ----------------------------------------------------------------------------------------


def load_private(ps: ParameterSet, seed: bytes) -> Any:
    if len(seed) != SEED_LEN:
        raise errors.AttributeValueInvalid()
    with _mapped(errors.AttributeValueInvalid):
        return _classes(ps)[0].from_seed_bytes(bytes(seed))


def load_public(ps: ParameterSet, value: bytes) -> Any:
    if len(value) != ps.public_len:
        raise errors.AttributeValueInvalid()
    with _mapped(errors.AttributeValueInvalid):
        return _classes(ps)[1].from_public_bytes(bytes(value))


def raw_public(key: Any) -> bytes:
    return bytes(key.public_bytes_raw())


def spki(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def expand(ps: ParameterSet, seed: bytes) -> tuple[bytes, bytes, bytes]:
    """(public key, expanded sk, SPKI) of the key with this seed. The public key of the
    expansion must be cryptography's: it is, by FIPS 204, and a bug would show here."""
    key = load_private(ps, seed)
    public = raw_public(key.public_key())
    pk, sk = lattice.mldsa_expand(bytes(seed), ps.k, ps.l, ps.eta)
    if pk != public:
        raise errors.GeneralError()
    return public, sk, spki(key.public_key())


def generate(ps: ParameterSet) -> tuple[bytes, bytes, bytes, bytes]:
    """(seed, public key, expanded sk, SPKI) of a fresh key pair."""
    mldsa_key = _classes(ps)[0].generate()
    seed = bytes(mldsa_key.private_bytes_raw())
    public, sk, info = expand(ps, seed)
    return seed, public, sk, info


def public_info(ps: ParameterSet, value: bytes) -> bytes:
    return spki(load_public(ps, value))


def from_spki(der: bytes) -> tuple[ParameterSet, bytes]:
    """(parameter set, public key) of an ML-DSA SubjectPublicKeyInfo; KeyTypeInconsistent if it
    holds another algorithm, AttributeValueInvalid if it is no key at all."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    with _mapped(errors.AttributeValueInvalid):
        key = load_der_public_key(bytes(der))
    for ps in SETS.values():
        if isinstance(key, _classes(ps)[1]):
            return ps, raw_public(key)
    raise errors.KeyTypeInconsistent()


def pkcs8(ps: ParameterSet, seed: bytes) -> bytes:
    """The PKCS#8 PrivateKeyInfo of the key (the seed form, RFC 9881)."""
    from cryptography.hazmat.primitives import serialization

    return bytes(
        load_private(ps, seed).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def from_pkcs8(der: bytes) -> tuple[ParameterSet, bytes] | None:
    """(parameter set, seed) of an ML-DSA PKCS#8 key; None for a key of another algorithm.
    A key without its seed (the expanded form alone) is refused by cryptography: WrappedKeyInvalid."""
    from softhsm_py.engine import pkcs8 as p8

    key = p8.load(der)
    for ps in SETS.values():
        if isinstance(key, _classes(ps)[0]):
            return ps, bytes(key.private_bytes_raw())
    return None


# --- signatures ----------------------------------------------------------------------------------


def _context(context: bytes) -> bytes | None:
    if len(context) > CONTEXT_MAX:
        raise errors.MechanismParamInvalid()
    return bytes(context) if context else None


def sign(key: Any, data: bytes, context: bytes) -> bytes:
    """ML-DSA.Sign (hedged) of ``data`` with ``context``."""
    ctx = _context(context)
    with _mapped(errors.MechanismParamInvalid):
        return bytes(key.sign(bytes(data), ctx) if ctx is not None else key.sign(bytes(data)))


def verify(key: Any, ps: ParameterSet, signature: bytes, data: bytes, context: bytes) -> None:
    if len(signature) != ps.signature_len:
        raise errors.SignatureLenRange()
    ctx = _context(context)
    with _mapped(errors.SignatureInvalid):
        if ctx is not None:
            key.verify(bytes(signature), bytes(data), ctx)
        else:
            key.verify(bytes(signature), bytes(data))


def sign_mu(key: Any, mu: bytes) -> bytes:
    if len(mu) != MU_LEN:
        raise errors.DataLenRange()
    with _mapped(errors.DataInvalid):
        return bytes(key.sign_mu(bytes(mu)))


def verify_mu(key: Any, ps: ParameterSet, signature: bytes, mu: bytes) -> None:
    if len(signature) != ps.signature_len:
        raise errors.SignatureLenRange()
    if len(mu) != MU_LEN:
        raise errors.DataLenRange()
    with _mapped(errors.SignatureInvalid):
        key.verify_mu(bytes(signature), bytes(mu))


def prehash(hash_name: str, data: bytes) -> bytes:
    """PH(M) of HashML-DSA: a SHA-2 / SHA-3 digest, or 256 / 512 bits of SHAKE128 / SHAKE256."""
    hasher = Prehasher(hash_name)
    hasher.update(data)
    return hasher.finalize()


def prehash_mu(public: bytes, hash_name: str, digest: bytes, context: bytes) -> bytes:
    """mu of HashML-DSA.Sign / Verify (FIPS 204, Algorithms 4-5 and 7): the message
    representative of M' = 1 || len(ctx) || ctx || OID(PH) || PH(M), under tr = H(pk, 64)."""
    oid, size = PREHASHES[hash_name]
    if len(digest) != size:
        raise errors.DataLenRange()
    if len(context) > CONTEXT_MAX:
        raise errors.MechanismParamInvalid()
    tr = hashlib.shake_256(bytes(public)).digest(64)
    message = b"\x01" + bytes([len(context)]) + bytes(context) + asn1.oid(oid) + bytes(digest)
    return hashlib.shake_256(tr + message).digest(MU_LEN)


class Prehasher:
    """PH of HashML-DSA fed in parts (the CKM_HASH_ML_DSA_<hash> mechanisms are multi-part)."""

    __slots__ = ("_ctx", "_size", "name")

    def __init__(self, name: str) -> None:
        if name not in PREHASHES:
            raise errors.MechanismInvalid()
        self.name = name
        self._size = PREHASHES[name][1]
        self._ctx: Any = hashlib.new(name.replace("-", "_"))

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        if self.name.startswith("shake"):
            return bytes(self._ctx.digest(self._size))
        return bytes(self._ctx.digest())


class MuHasher:
    """mu of pure ML-DSA fed in parts: cryptography's MLDSAMuHasher (tr, domain byte, ctx, M)."""

    __slots__ = ("_ctx",)

    def __init__(self, public_key: Any, context: bytes) -> None:
        ctx = _context(context)
        with _mapped(errors.MechanismParamInvalid):
            self._ctx = _module().MLDSAMuHasher(public_key, ctx)

    def update(self, data: bytes) -> None:
        self._ctx.update(bytes(data))

    def finalize(self) -> bytes:
        return bytes(self._ctx.finalize())
