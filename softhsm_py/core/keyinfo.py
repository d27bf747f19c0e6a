"""What a front end may know of a named key: ``KeyInfo``, built from the readable attributes only,
and the public names of key algorithms (what the attestation statement and the REST service say).
"""

from __future__ import annotations

from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core import keytypes
from softhsm_py.core.objects import factory
from softhsm_py.engine import curves, mldsa, mlkem

# key type -> (algorithm name, algorithm OID) as the TSB names them (TSB.md 3.1 and 5). Edwards
# and Montgomery keys name their curve's OID here; EC keys give the curve separately.
ALGORITHMS: dict[int, tuple[str, str]] = {
    KeyType.RSA: ("RSA", "1.2.840.113549.1.1.1"),
    KeyType.EC: ("EC", "1.2.840.10045.2.1"),
    KeyType.DSA: ("DSA", "1.2.840.10040.4.1"),
    KeyType.AES: ("AES", "2.16.840.1.101.3.4.1"),
    KeyType.CHACHA20: ("ChaCha20", "1.2.840.113549.1.9.16.3.18"),
    KeyType.CAMELLIA: ("Camellia", "1.2.392.200011.61.1.1.1"),
    KeyType.DES3: ("TDEA", "1.2.840.113549.3.7"),
    KeyType.SHA256_HMAC: ("HMACSHA256", "1.2.840.113549.2.9"),
    KeyType.GENERIC_SECRET: ("GENERIC_SECRET", "1.2.840.113549.2.9"),
}
# Edwards and Montgomery keys name their curve in ``algorithm_oid`` (TSB.md 3.1: Ed25519 keys).
_CURVE_ALGORITHM = {curves.EDWARDS: "ED", curves.MONTGOMERY: "X"}
# Post-quantum keys are named by their parameter set ("ML-DSA-65", its NIST OID).
_PARAMETER_SETS: dict[int, dict[int, Any]] = {KeyType.ML_DSA: mldsa.SETS, KeyType.ML_KEM: mlkem.SETS}


def readable(attrs: dict[int, Any]) -> dict[int, Any]:
    """The attributes any front end may show: what C_GetAttributeValue would give."""
    out = {}
    for kind in attrs:
        try:
            out[kind] = factory.read(attrs, kind)
        except Exception:  # AttributeSensitive / TypeInvalid: not shown
            continue
    return out


class KeyInfo:
    """A snapshot of one named key (see ``core.partition``). Never holds a secret value."""

    __slots__ = (
        "algorithm",
        "algorithm_oid",
        "attrs",
        "created",
        "curve_oid",
        "has_password",
        "key_size",
        "key_type",
        "name",
        "object_class",
        "public_attrs",
        "spki",
    )

    def __init__(self, name: str, attrs: dict[int, Any], public_attrs: dict[int, Any] | None) -> None:
        main = attrs
        self.name = name
        self.object_class = int(main[A.CLASS])
        self.key_type = int(main[A.KEY_TYPE])
        self.has_password = V.PASSWORD in main
        self.attrs = readable(main)
        self.public_attrs = readable(public_attrs) if public_attrs is not None else None
        spki = main.get(A.PUBLIC_KEY_INFO) or (public_attrs or {}).get(A.PUBLIC_KEY_INFO)
        self.spki: bytes | None = bytes(spki) if spki else None
        created = main.get(V.CREATED)
        self.created: str | None = created.decode() if isinstance(created, bytes) else None
        self.curve_oid: str | None = None
        self.key_size: int | None = None
        self.algorithm, self.algorithm_oid = ALGORITHMS.get(self.key_type, ("UNKNOWN", "0.0"))
        curve = curves.lookup(bytes(main[A.EC_PARAMS])) if A.EC_PARAMS in main else None
        if curve is not None and curve.family == curves.EC:
            self.curve_oid = curve.oid
        elif curve is not None:
            self.algorithm, self.algorithm_oid = _CURVE_ALGORITHM[curve.family], curve.oid
        sets = _PARAMETER_SETS.get(self.key_type)
        if sets is not None and main.get(A.PARAMETER_SET) in sets:
            ps = sets[main[A.PARAMETER_SET]]
            self.algorithm, self.algorithm_oid = ps.name, ps.oid
        spec = keytypes.find(self.object_class, self.key_type)
        if spec is not None:
            self.key_size = spec.key_bits(main)

    def __repr__(self) -> str:
        return f"KeyInfo({self.name!r}, {self.algorithm})"

    @property
    def ska(self) -> tuple[Any, bool] | None:
        """(policy, blocked) of a key with Smart Key Attributes (``core.ska.policy.Policy``)."""
        from softhsm_py.core.ska import approvals  # loaded with the first key that has a policy

        if V.SKA_POLICY not in self.attrs:
            return None
        return approvals.key_policy(self.attrs)

    @property
    def generated(self) -> bool:
        """Made inside the token (CKA_LOCAL), not imported or unwrapped."""
        return self.attrs.get(A.LOCAL) is True
