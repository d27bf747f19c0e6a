"""ML-KEM (FIPS 203) on pyca/cryptography: keys from their seed, encapsulation, decapsulation.

pyca/cryptography offers ML-KEM-768 and ML-KEM-1024 (not ML-KEM-512: its row says so, and a key
of that set is CKR_PARAMETER_SET_NOT_SUPPORTED). Private keys load from their 64-byte seed
d || z; the expanded decapsulation key ``dk`` comes from ``engine.lattice``.

cryptography is imported inside the functions: the key-type specs import this module.
"""

from __future__ import annotations

from contextlib import AbstractContextManager as ContextManager
from typing import Any

from softhsm_py import errors
from softhsm_py.engine import lattice

SEED_LEN = 64
SHARED_SECRET_LEN = 32


def _mapped(value_error: type[errors.PKCS11Error] | None = None) -> ContextManager[None]:
    from softhsm_py.engine.errmap import mapped  # imports cryptography: not at module start

    return mapped(value_error)


class ParameterSet:
    """One ML-KEM parameter set (FIPS 203, section 8); ``ckp`` is its CKP_ML_KEM_* value.
    ``offered``: pyca/cryptography implements it."""

    __slots__ = ("ciphertext_len", "ckp", "dk_len", "eta1", "k", "name", "offered", "oid", "public_len")

    def __init__(
        self,
        ckp: int,
        name: str,
        oid: str,
        k: int,
        eta1: int,
        public_len: int,
        dk_len: int,
        ciphertext_len: int,
        offered: bool = True,
    ) -> None:
        self.ckp, self.name, self.oid, self.k, self.eta1 = ckp, name, oid, k, eta1
        self.public_len, self.dk_len, self.ciphertext_len = public_len, dk_len, ciphertext_len
        self.offered = offered

    def __repr__(self) -> str:
        return f"ParameterSet({self.name})"


_NIST_KEM = "2.16.840.1.101.3.4.4."
SETS: dict[int, ParameterSet] = {
    s.ckp: s
    for s in (
        ParameterSet(1, "ML-KEM-512", _NIST_KEM + "1", 2, 3, 800, 1632, 768, offered=False),
        ParameterSet(2, "ML-KEM-768", _NIST_KEM + "2", 3, 2, 1184, 2400, 1088),
        ParameterSet(3, "ML-KEM-1024", _NIST_KEM + "3", 4, 2, 1568, 3168, 1568),
    )
}
OFFERED = [s for s in SETS.values() if s.offered]


def parameter_set(ckp: Any) -> ParameterSet:
    """The set CKA_PARAMETER_SET names; ParameterSetNotSupported for any other, and for a set
    the engine lacks."""
    found = SETS.get(ckp) if isinstance(ckp, int) else None
    if found is None or not found.offered:
        raise errors.ParameterSetNotSupported()
    return found


def _classes(ps: ParameterSet) -> tuple[Any, Any]:
    from cryptography.hazmat.primitives.asymmetric import mlkem

    tag = ps.name.replace("-", "")  # MLKEM768
    return getattr(mlkem, f"{tag}PrivateKey"), getattr(mlkem, f"{tag}PublicKey")


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
    """(encapsulation key, expanded dk, SPKI) of the key with this seed; the expansion's ek
    must be cryptography's."""
    key = load_private(ps, seed)
    public = raw_public(key.public_key())
    ek, dk = lattice.mlkem_expand(bytes(seed), ps.k, ps.eta1)
    if ek != public:
        raise errors.GeneralError()
    return public, dk, spki(key.public_key())


def generate(ps: ParameterSet) -> tuple[bytes, bytes, bytes, bytes]:
    """(seed, encapsulation key, expanded dk, SPKI) of a fresh key pair."""
    seed = bytes(_classes(ps)[0].generate().private_bytes_raw())
    public, dk, info = expand(ps, seed)
    return seed, public, dk, info


def public_info(ps: ParameterSet, value: bytes) -> bytes:
    return spki(load_public(ps, value))


def from_spki(der: bytes) -> tuple[ParameterSet, bytes]:
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    with _mapped(errors.AttributeValueInvalid):
        key = load_der_public_key(bytes(der))
    for ps in OFFERED:
        if isinstance(key, _classes(ps)[1]):
            return ps, raw_public(key)
    raise errors.KeyTypeInconsistent()


def pkcs8(ps: ParameterSet, seed: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        load_private(ps, seed).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def from_pkcs8(der: bytes) -> tuple[ParameterSet, bytes] | None:
    """(parameter set, seed) of an ML-KEM PKCS#8 key; None for a key of another algorithm."""
    from softhsm_py.engine import pkcs8 as p8

    key = p8.load(der)
    for ps in OFFERED:
        if isinstance(key, _classes(ps)[0]):
            return ps, bytes(key.private_bytes_raw())
    return None


# --- encapsulation -------------------------------------------------------------------------------


def encapsulate(public_key: Any) -> tuple[bytes, bytes]:
    """(shared secret, ciphertext) of ML-KEM.Encaps."""
    secret, ciphertext = public_key.encapsulate()
    return bytes(secret), bytes(ciphertext)


def decapsulate(private_key: Any, ps: ParameterSet, ciphertext: bytes) -> bytes:
    """ML-KEM.Decaps. A ciphertext of the set's length always decapsulates (to a pseudorandom
    secret when it was tampered with: implicit rejection); another length is refused with the
    code C_DecapsulateKey has for it (PKCS#11 3.2 counts the ciphertext as a wrapped key)."""
    if len(ciphertext) != ps.ciphertext_len:
        raise errors.WrappedKeyLenRange()
    with _mapped(errors.WrappedKeyInvalid):
        return bytes(private_key.decapsulate(bytes(ciphertext)))
