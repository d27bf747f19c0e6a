"""Every curve the package knows, once: its name, OID, family, sizes and cryptography class.

Read by the key checks (``keycheck``), the ECDSA / ECDH and EdDSA / XDH engines (``ec``,
``edwards``), PKCS#8 (``pkcs8``), the mechanisms' key-size ranges and the key-type specs. Adding
a curve is one row here (and nothing else, if cryptography can do ECDSA and ECDH on it).

Columns:
  name    one naming scheme: cryptography's (``key.curve.name`` for prime curves), lower case
          for the Edwards / Montgomery curves
  oid     the dotted OID (what a REST front end reports); ``oid_der`` (CKA_EC_PARAMS) follows
  family  the PKCS#11 key type it belongs to: ``EC`` (CKK_EC), ``EDWARDS``, ``MONTGOMERY``
  bits    CK_MECHANISM_INFO key size: the order's bits (prime curves), 255 / 448 otherwise
  engine  the cryptography name: the curve class in ``asymmetric.ec`` (SECP256R1), or the
          prefix of the key classes in ``asymmetric.<engine lower-cased>`` (Ed25519 ->
          ed25519.Ed25519PrivateKey / Ed25519PublicKey)
  key_len raw public / private key length (Edwards, Montgomery); prime curves: the scalar's
  alias   the PrintableString name SoftHSMv2 and pkcs11-tool also write into CKA_EC_PARAMS

No cryptography and no dataclasses here: the key-type specs import this at module start.
"""

from __future__ import annotations

from softhsm_py.engine import asn1

EC, EDWARDS, MONTGOMERY = "ec", "edwards", "montgomery"


class Curve:
    """One row of the table (read-only by convention)."""

    __slots__ = ("alias", "alias_der", "bits", "engine", "family", "key_len", "name", "oid", "oid_der")

    def __init__(
        self,
        name: str,
        oid: str,
        family: str,
        bits: int,
        engine: str,
        *,
        key_len: int | None = None,
        alias: str | None = None,
    ) -> None:
        self.name, self.oid, self.family, self.bits, self.engine = name, oid, family, bits, engine
        self.key_len = key_len if key_len is not None else (bits + 7) // 8
        self.alias = alias
        self.oid_der = asn1.oid(oid)
        self.alias_der = asn1.printable_string(alias) if alias is not None else None

    @property
    def signature_len(self) -> int:
        """ECDSA r || s and EdDSA R || S: twice the key length (64 for P-256 and Ed25519)."""
        return 2 * self.key_len

    def __repr__(self) -> str:
        return f"Curve({self.name})"


CURVES: tuple[Curve, ...] = (
    Curve("secp192r1", "1.2.840.10045.3.1.1", EC, 192, "SECP192R1"),
    Curve("secp224r1", "1.3.132.0.33", EC, 224, "SECP224R1"),
    Curve("secp256r1", "1.2.840.10045.3.1.7", EC, 256, "SECP256R1"),
    Curve("secp384r1", "1.3.132.0.34", EC, 384, "SECP384R1"),
    Curve("secp521r1", "1.3.132.0.35", EC, 521, "SECP521R1"),
    Curve("secp256k1", "1.3.132.0.10", EC, 256, "SECP256K1"),
    Curve("brainpoolP224r1", "1.3.36.3.3.2.8.1.1.5", EC, 224, "BrainpoolP224R1"),
    Curve("brainpoolP256r1", "1.3.36.3.3.2.8.1.1.7", EC, 256, "BrainpoolP256R1"),
    Curve("brainpoolP320r1", "1.3.36.3.3.2.8.1.1.9", EC, 320, "BrainpoolP320R1"),
    Curve("brainpoolP384r1", "1.3.36.3.3.2.8.1.1.11", EC, 384, "BrainpoolP384R1"),
    Curve("brainpoolP512r1", "1.3.36.3.3.2.8.1.1.13", EC, 512, "BrainpoolP512R1"),
    Curve("ed25519", "1.3.101.112", EDWARDS, 255, "Ed25519", key_len=32, alias="edwards25519"),
    Curve("ed448", "1.3.101.113", EDWARDS, 448, "Ed448", key_len=57, alias="edwards448"),
    Curve("x25519", "1.3.101.110", MONTGOMERY, 255, "X25519", key_len=32, alias="curve25519"),
    Curve("x448", "1.3.101.111", MONTGOMERY, 448, "X448", key_len=56, alias="curve448"),
)

BY_NAME: dict[str, Curve] = {c.name: c for c in CURVES}
# CKA_EC_PARAMS -> curve: the DER OID, and the PrintableString alias where there is one.
BY_PARAMS: dict[bytes, Curve] = {c.oid_der: c for c in CURVES}
BY_PARAMS.update({c.alias_der: c for c in CURVES if c.alias_der is not None})

_NAMING_TAGS = frozenset({asn1.TAG_OID, asn1.TAG_PRINTABLE_STRING})


def of_family(family: str) -> tuple[Curve, ...]:
    return tuple(c for c in CURVES if c.family == family)


def bit_range(*families: str) -> tuple[int, int]:
    """(smallest, largest) key size of the families' curves: a mechanism's CK_MECHANISM_INFO."""
    bits = [c.bits for c in CURVES if c.family in families]
    return min(bits), max(bits)


def lookup(ec_params: bytes) -> Curve | None:
    """The curve CKA_EC_PARAMS names: its OID, its alias, or explicit ECParameters whose values
    are a prime curve's of the table (``curve_params``)."""
    curve = BY_PARAMS.get(bytes(ec_params))
    if curve is None and ec_params[:1] == bytes([asn1.TAG_SEQUENCE]):
        from softhsm_py.engine import curve_params  # rare: not at module start

        name = curve_params.curve_name(ec_params)
        curve = BY_NAME.get(name) if name is not None else None
    return curve


def names_a_curve(ec_params: bytes) -> bool:
    """Whether CKA_EC_PARAMS is shaped as a curve name (an OID, a PrintableString) rather than
    explicit parameters or garbage: an unknown name is CurveNotSupported, the rest invalid."""
    return bool(ec_params) and ec_params[0] in _NAMING_TAGS


def is_other_prime_curve(ec_params: bytes) -> bool:
    """Whether CKA_EC_PARAMS is an OID or explicit ECParameters over a prime field that names no
    curve of ours: CurveNotSupported rather than an invalid value."""
    if ec_params[:1] == bytes([asn1.TAG_OID]):
        return True
    from softhsm_py.engine import curve_params

    return ec_params[:1] == bytes([asn1.TAG_SEQUENCE]) and curve_params.is_ec_parameters(ec_params)
