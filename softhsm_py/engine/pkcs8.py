"""Private keys as PKCS#8 PrivateKeyInfo: what C_WrapKey wraps and C_UnwrapKey unwraps (3.0, 5.14
and 6.x), and what a REST front end imports.

The key-type specs (``core.keytypes``) turn attributes into the plain values here and back.
Unwrapped bytes that are no PKCS#8 key are WrappedKeyInvalid; a key of another algorithm or curve
family than the template names is KeyTypeInconsistent.
"""

from __future__ import annotations

from typing import Any

from softhsm_py.engine import curves
from softhsm_py.engine.curves import Curve
from softhsm_py.errors import KeyTypeInconsistent, WrappedKeyInvalid

# cryptography is imported inside the functions that use it, not here: loading it costs 30-300 ms
# and the key-type specs (hence the object factory) import this module.


def _der(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def load(der: bytes) -> Any:
    """The private key in PKCS#8 ``der`` (cryptography's object); WrappedKeyInvalid otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    from softhsm_py.engine.errmap import quiet_legacy_warnings

    quiet_legacy_warnings()  # the key may be DSA or DH
    try:
        return serialization.load_der_private_key(bytes(der), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise WrappedKeyInvalid() from None


# --- RSA ---------------------------------------------------------------------------------------

RsaNumbers = tuple[int, int, int, int, int, int, int, int]  # n, e, d, p, q, dmp1, dmq1, iqmp


def rsa_encode(numbers: RsaNumbers) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import rsa

    n, e, d, p, q, dmp1, dmq1, iqmp = numbers
    numbers_ = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
    # A stored key's numbers (C_WrapKey), checked when the key entered the token (engine.rsa.load_private).
    return _der(numbers_.private_key(unsafe_skip_rsa_key_validation=True))


def rsa_decode(der: bytes) -> RsaNumbers:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = load(der)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyTypeInconsistent()
    k = key.private_numbers()
    pub = k.public_numbers
    return pub.n, pub.e, k.d, k.p, k.q, k.dmp1, k.dmq1, k.iqmp


# --- keys on curves: EC scalars, Edwards and Montgomery raw keys --------------------------------


def curve_encode(curve: Curve, value: bytes) -> bytes:
    """PKCS#8 of a private key on ``curve``; ``value`` is CKA_VALUE (scalar or raw key)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from softhsm_py.engine import ec as engine_ec
    from softhsm_py.engine import edwards

    if curve.family == curves.EC:
        return _der(ec.derive_private_key(int.from_bytes(value, "big"), engine_ec.CURVE_OBJECTS[curve.name]))
    return _der(edwards.KEY_CLASSES[curve.name][0].from_private_bytes(bytes(value)))


def curve_decode(family: str, der: bytes) -> tuple[Curve, bytes]:
    """(curve, CKA_VALUE) of a PKCS#8 key whose curve belongs to ``family``; an EC scalar comes
    back as long as the curve order, an Edwards / Montgomery key raw."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from softhsm_py.engine import edwards

    key = load(der)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if family != curves.EC:
            raise KeyTypeInconsistent()
        curve = curves.BY_NAME.get(key.curve.name)
        if curve is None or curve.family != curves.EC:
            raise WrappedKeyInvalid()  # a curve we do not implement
        return curve, key.private_numbers().private_value.to_bytes(curve.key_len, "big")
    for name, (private_cls, _) in edwards.KEY_CLASSES.items():
        curve = curves.BY_NAME[name]
        if isinstance(key, private_cls) and curve.family == family:
            raw = key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            return curve, bytes(raw)
    raise KeyTypeInconsistent()
