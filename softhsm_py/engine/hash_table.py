"""Every hash algorithm the package knows, once, with the PKCS#11 values that name it.

The digest, MGF1, X9.63 KDF, HMAC, hash-and-sign mechanisms and the HMAC key types all read
their hash from here (``names_by``); ``engine.hashes`` makes the engine object of a row and
``engine.rsa`` its DigestInfo. Adding a hash is one row.

Columns:
  name    cryptography's name of the algorithm (``hashes.SHA256.name``); the engine's key
  oid     dotted OID, from which the DER DigestInfo prefix (RFC 8017 9.2 note 1) follows
  size    digest length in bytes
  engine  the class in ``cryptography.hazmat.primitives.hashes``
  digest  CKM_ digest mechanism (also the hashAlg of OAEP / PSS / HKDF parameters)
  mgf     CKG_MGF1_*            kdf  CKD_*_KDF (ANSI X9.63, ECDH1_DERIVE)
  hmac    (CKM_*_HMAC, CKM_*_HMAC_GENERAL, CKK_*_HMAC)
  rsa_pkcs, rsa_pss, ecdsa, dsa the hash-and-sign mechanisms
  oaep    whether OAEP (hash and MGF1) takes it: OpenSSL's OAEP takes SHA-1 and SHA-2 only
  legacy  kept for old hosts only (MD5): a digest and an HMAC, never a parameter of another
          mechanism (OAEP, PSS, HKDF, ...), never signed

No cryptography and no dataclasses here: the key-type specs import this at module start.
"""

from __future__ import annotations

from softhsm_py.constants import KDF, MGF, KeyType, Mechanism
from softhsm_py.engine import asn1

M = Mechanism


class HashSpec:
    """One row of the table (read-only by convention)."""

    __slots__ = (
        "digest", "digest_info_prefix", "dsa", "ecdsa", "engine", "hmac", "hmac_general", "hmac_key_type",
        "kdf", "legacy", "mgf", "name", "oaep", "oid", "rsa_pkcs", "rsa_pss", "size",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        oid: str,
        size: int,
        engine: str,
        digest: int,
        *,
        mgf: int | None = None,
        kdf: int | None = None,
        hmac: tuple[int, int, int] | None = None,
        rsa_pkcs: int | None = None,
        rsa_pss: int | None = None,
        ecdsa: int | None = None,
        dsa: int | None = None,
        oaep: bool = False,
        legacy: bool = False,
    ) -> None:
        self.name, self.oid, self.size, self.engine, self.digest = name, oid, size, engine, digest
        self.mgf, self.kdf, self.oaep, self.legacy = mgf, kdf, oaep, legacy
        self.hmac: int | None = hmac[0] if hmac is not None else None
        self.hmac_general: int | None = hmac[1] if hmac is not None else None
        self.hmac_key_type: int | None = hmac[2] if hmac is not None else None
        self.rsa_pkcs, self.rsa_pss, self.ecdsa, self.dsa = rsa_pkcs, rsa_pss, ecdsa, dsa
        # DigestInfo ::= SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING digest }: all but the digest
        algorithm_id = asn1.sequence(asn1.oid(oid), asn1.NULL)
        whole = asn1.sequence(algorithm_id, asn1.octet_string(bytes(size)))
        self.digest_info_prefix = whole[:-size]

    def __repr__(self) -> str:
        return f"HashSpec({self.name})"


_SHA2 = "2.16.840.1.101.3.4.2."
HASHES: tuple[HashSpec, ...] = (
    HashSpec("md5", "1.2.840.113549.2.5", 16, "MD5", M.MD5,
             hmac=(M.MD5_HMAC, M.MD5_HMAC_GENERAL, KeyType.MD5_HMAC), legacy=True),
    HashSpec("sha1", "1.3.14.3.2.26", 20, "SHA1", M.SHA_1, mgf=MGF.SHA1, kdf=KDF.SHA1_KDF,
             hmac=(M.SHA_1_HMAC, M.SHA_1_HMAC_GENERAL, KeyType.SHA_1_HMAC),
             rsa_pkcs=M.SHA1_RSA_PKCS, rsa_pss=M.SHA1_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA1,
             dsa=M.DSA_SHA1, oaep=True),
    HashSpec("sha224", _SHA2 + "4", 28, "SHA224", M.SHA224, mgf=MGF.SHA224, kdf=KDF.SHA224_KDF,
             hmac=(M.SHA224_HMAC, M.SHA224_HMAC_GENERAL, KeyType.SHA224_HMAC),
             rsa_pkcs=M.SHA224_RSA_PKCS, rsa_pss=M.SHA224_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA224,
             dsa=M.DSA_SHA224, oaep=True),
    HashSpec("sha256", _SHA2 + "1", 32, "SHA256", M.SHA256, mgf=MGF.SHA256, kdf=KDF.SHA256_KDF,
             hmac=(M.SHA256_HMAC, M.SHA256_HMAC_GENERAL, KeyType.SHA256_HMAC),
             rsa_pkcs=M.SHA256_RSA_PKCS, rsa_pss=M.SHA256_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA256,
             dsa=M.DSA_SHA256, oaep=True),
    HashSpec("sha384", _SHA2 + "2", 48, "SHA384", M.SHA384, mgf=MGF.SHA384, kdf=KDF.SHA384_KDF,
             hmac=(M.SHA384_HMAC, M.SHA384_HMAC_GENERAL, KeyType.SHA384_HMAC),
             rsa_pkcs=M.SHA384_RSA_PKCS, rsa_pss=M.SHA384_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA384,
             dsa=M.DSA_SHA384, oaep=True),
    HashSpec("sha512", _SHA2 + "3", 64, "SHA512", M.SHA512, mgf=MGF.SHA512, kdf=KDF.SHA512_KDF,
             hmac=(M.SHA512_HMAC, M.SHA512_HMAC_GENERAL, KeyType.SHA512_HMAC),
             rsa_pkcs=M.SHA512_RSA_PKCS, rsa_pss=M.SHA512_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA512,
             dsa=M.DSA_SHA512, oaep=True),
    HashSpec("sha512-224", _SHA2 + "5", 28, "SHA512_224", M.SHA512_224),
    HashSpec("sha512-256", _SHA2 + "6", 32, "SHA512_256", M.SHA512_256),
    HashSpec("sha3-224", _SHA2 + "7", 28, "SHA3_224", M.SHA3_224, mgf=MGF.SHA3_224, kdf=KDF.SHA3_224_KDF,
             hmac=(M.SHA3_224_HMAC, M.SHA3_224_HMAC_GENERAL, KeyType.SHA3_224_HMAC),
             rsa_pkcs=M.SHA3_224_RSA_PKCS, rsa_pss=M.SHA3_224_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA3_224,
             dsa=M.DSA_SHA3_224),
    HashSpec("sha3-256", _SHA2 + "8", 32, "SHA3_256", M.SHA3_256, mgf=MGF.SHA3_256, kdf=KDF.SHA3_256_KDF,
             hmac=(M.SHA3_256_HMAC, M.SHA3_256_HMAC_GENERAL, KeyType.SHA3_256_HMAC),
             rsa_pkcs=M.SHA3_256_RSA_PKCS, rsa_pss=M.SHA3_256_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA3_256,
             dsa=M.DSA_SHA3_256),
    HashSpec("sha3-384", _SHA2 + "9", 48, "SHA3_384", M.SHA3_384, mgf=MGF.SHA3_384, kdf=KDF.SHA3_384_KDF,
             hmac=(M.SHA3_384_HMAC, M.SHA3_384_HMAC_GENERAL, KeyType.SHA3_384_HMAC),
             rsa_pkcs=M.SHA3_384_RSA_PKCS, rsa_pss=M.SHA3_384_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA3_384,
             dsa=M.DSA_SHA3_384),
    HashSpec("sha3-512", _SHA2 + "10", 64, "SHA3_512", M.SHA3_512, mgf=MGF.SHA3_512, kdf=KDF.SHA3_512_KDF,
             hmac=(M.SHA3_512_HMAC, M.SHA3_512_HMAC_GENERAL, KeyType.SHA3_512_HMAC),
             rsa_pkcs=M.SHA3_512_RSA_PKCS, rsa_pss=M.SHA3_512_RSA_PKCS_PSS, ecdsa=M.ECDSA_SHA3_512,
             dsa=M.DSA_SHA3_512),
)  # fmt: skip

BY_NAME: dict[str, HashSpec] = {h.name: h for h in HASHES}
COLUMNS = (
    "digest", "mgf", "kdf", "hmac", "hmac_general", "hmac_key_type", "rsa_pkcs", "rsa_pss", "ecdsa", "dsa",
)  # fmt: skip


def names_by(column: str) -> dict[int, str]:
    """PKCS#11 value of ``column`` -> hash name, for the rows that have one (in table order)."""
    if column not in COLUMNS:
        raise KeyError(column)
    out: dict[int, str] = {}
    for h in HASHES:
        value = getattr(h, column)
        if value is not None:
            out[int(value)] = h.name
    return out


HMAC_KEY_TYPES: tuple[int, ...] = tuple(names_by("hmac_key_type"))
