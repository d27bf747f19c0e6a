"""Helpers for the object tests (PKCS#11 3.0, 5.7): attribute constants written from the
specification, CK_ATTRIBUTE arrays packed with cffi and read back, object calls, and key material
made with pyca/cryptography for C_CreateObject.

    t = attrs({CKA_CLASS: CKO_DATA, CKA_LABEL: "x"})    # a Template: t.array, len(t)
    obj = create(module, h, {CKA_CLASS: CKO_DATA})      # raises CKRError unless CKR_OK
    rv, values = get_rv(module, h, obj, [CKA_LABEL])    # ("OK", {CKA_LABEL: b"x"})

Values: ``bool`` for CK_BBOOL attributes, ``int`` for CK_ULONG ones, ``bytes`` otherwise (a ``str``
is UTF-8 encoded on the way in), ``list[int]`` for CKA_ALLOWED_MECHANISMS and ``dict`` for the
template attributes. ``None`` as a value means a NULL pValue with length 0.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from .pkcs11 import (
    CK_UNAVAILABLE_INFORMATION,
    CKR,
    CKU_USER,
    USER_PIN,
    CKRError,
    Module,
    ffi,
)
from .pkcs11 import rv_name as _base_rv_name

# Return values pkcs11.CKR does not list (3.0, 3.6).
MORE_CKR = {
    "TEMPLATE_INCOMPLETE": 0xD0, "TEMPLATE_INCONSISTENT": 0xD1, "CURVE_NOT_SUPPORTED": 0x140,
    "KEY_TYPE_INCONSISTENT": 0x63, "KEY_SIZE_RANGE": 0x62, "DOMAIN_PARAMS_INVALID": 0x130,
}  # fmt: skip
_MORE_NAMES = {value: name for name, value in MORE_CKR.items()}


def rv_name(rv: int) -> str:
    return _MORE_NAMES.get(rv) or _base_rv_name(rv)


# ------------------------------------------------------------------------------- constants (3.0)
CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY = 0, 1, 2, 3, 4
CKO_NSS_TRUST = 0xCE534353  # NSS vendor class (CKO_NSS + 3)
CKK_RSA, CKK_EC, CKK_GENERIC_SECRET, CKK_AES = 0x0, 0x3, 0x10, 0x1F
CKK_EC_EDWARDS, CKK_EC_MONTGOMERY = 0x40, 0x41
CKC_X_509 = 0x0
CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN, CKM_AES_KEY_GEN = 0x0, 0x1040, 0x1080
CKM_SHA_1 = 0x220

CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_UNIQUE_ID = 0x0, 0x1, 0x2, 0x3, 0x4
CKA_APPLICATION, CKA_VALUE, CKA_OBJECT_ID = 0x10, 0x11, 0x12
CKA_CERTIFICATE_TYPE, CKA_ISSUER, CKA_SERIAL_NUMBER = 0x80, 0x81, 0x82
CKA_TRUSTED, CKA_CERTIFICATE_CATEGORY, CKA_CHECK_VALUE = 0x86, 0x87, 0x90
CKA_KEY_TYPE, CKA_SUBJECT, CKA_ID, CKA_SENSITIVE = 0x100, 0x101, 0x102, 0x103
CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP = 0x104, 0x105, 0x106, 0x107
CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DERIVE = 0x108, 0x109, 0x10A, 0x10B, 0x10C
CKA_START_DATE, CKA_END_DATE = 0x110, 0x111
CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT = 0x120, 0x121, 0x122, 0x123
CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT = 0x124, 0x125, 0x126, 0x127, 0x128
CKA_PUBLIC_KEY_INFO = 0x129
CKA_VALUE_LEN, CKA_EXTRACTABLE, CKA_LOCAL = 0x161, 0x162, 0x163
CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_KEY_GEN_MECHANISM = 0x164, 0x165, 0x166
CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE = 0x170, 0x171, 0x172
CKA_EC_PARAMS, CKA_EC_POINT = 0x180, 0x181
CKA_ALWAYS_AUTHENTICATE, CKA_WRAP_WITH_TRUSTED = 0x202, 0x210
CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE = 0x40000211, 0x40000212
CKA_ALLOWED_MECHANISMS = 0x40000600
CKA_ENCAPSULATE = 0x633  # PKCS#11 3.2: unknown to a 3.0 module (python-pkcs11 0.10 asks for it)
# NSS vendor attributes (CKA_TRUST = CKA_NSS + 0x2000 = 0xCE536350)
CKA_TRUST_SERVER_AUTH, CKA_TRUST_CLIENT_AUTH = 0xCE536358, 0xCE536359
CKA_TRUST_CODE_SIGNING, CKA_TRUST_EMAIL_PROTECTION = 0xCE53635A, 0xCE53635B
CKA_TRUST_STEP_UP_APPROVED = 0xCE536360
CKA_CERT_SHA1_HASH, CKA_CERT_MD5_HASH = 0xCE5363B4, 0xCE5363B5
CKT_NSS_TRUSTED_DELEGATOR, CKT_NSS_MUST_VERIFY_TRUST = 0xCE534352, 0xCE534353

BOOL_ATTRS = frozenset({
    CKA_TOKEN, CKA_PRIVATE, CKA_TRUSTED, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP,
    CKA_UNWRAP, CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DERIVE,
    CKA_EXTRACTABLE, CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_MODIFIABLE,
    CKA_COPYABLE, CKA_DESTROYABLE, CKA_ALWAYS_AUTHENTICATE, CKA_WRAP_WITH_TRUSTED,
    CKA_TRUST_STEP_UP_APPROVED,
})  # fmt: skip
ULONG_ATTRS = frozenset({
    CKA_CLASS, CKA_CERTIFICATE_TYPE, CKA_CERTIFICATE_CATEGORY, CKA_KEY_TYPE, CKA_MODULUS_BITS,
    CKA_VALUE_LEN, CKA_KEY_GEN_MECHANISM, CKA_TRUST_SERVER_AUTH, CKA_TRUST_CLIENT_AUTH,
    CKA_TRUST_CODE_SIGNING, CKA_TRUST_EMAIL_PROTECTION,
})  # fmt: skip
TEMPLATE_ATTRS = frozenset({CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE})
ULONG = struct.Struct("=Q" if ffi.sizeof("CK_ULONG") == 8 else "=I")
UNAVAILABLE = CK_UNAVAILABLE_INFORMATION


# ------------------------------------------------------------------------------- packing
def encode(kind: int, value: Any) -> bytes:
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return ULONG.pack(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (list, tuple)):
        return b"".join(ULONG.pack(v) for v in value)
    return bytes(value)


def decode(kind: int, raw: bytes) -> Any:
    if kind in BOOL_ATTRS and len(raw) == 1:
        return raw != b"\x00"
    if kind in ULONG_ATTRS and len(raw) == ULONG.size:
        return ULONG.unpack(raw)[0]
    if kind == CKA_ALLOWED_MECHANISMS:
        return [v[0] for v in ULONG.iter_unpack(raw)]
    return raw


class Template:
    """A CK_ATTRIBUTE array and every buffer it points to (kept alive as long as it is)."""

    def __init__(self, items: Mapping[int, Any] | Iterable[tuple[int, Any]]) -> None:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        self.pairs = pairs
        self.array = ffi.new("CK_ATTRIBUTE[]", max(len(pairs), 1))
        self._keep: list[Any] = []
        for i, (kind, value) in enumerate(pairs):
            self.array[i].type = kind
            if value is None:
                self.array[i].pValue, self.array[i].ulValueLen = ffi.NULL, 0
            elif isinstance(value, dict):
                inner = Template(value)
                self._keep.append(inner)
                self.array[i].pValue = inner.array
                self.array[i].ulValueLen = len(inner) * ffi.sizeof("CK_ATTRIBUTE")
            else:
                raw = encode(kind, value)
                buf = ffi.new("CK_BYTE[]", max(len(raw), 1))
                ffi.memmove(buf, raw, len(raw))
                self._keep.append(buf)
                self.array[i].pValue, self.array[i].ulValueLen = buf, len(raw)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def ptr(self) -> Any:
        """Never NULL, even when empty (SoftHSMv2 refuses a NULL template with a zero count)."""
        return self.array


def attrs(values: Mapping[int, Any] | Iterable[tuple[int, Any]]) -> Template:
    return Template(values)


class Query:
    """A C_GetAttributeValue template: one entry per type with a buffer of ``size`` bytes
    (None: pValue NULL, the module reports the length)."""

    def __init__(self, types: Sequence[int], sizes: Sequence[int | None] | int | None = 1024) -> None:
        self.types = list(types)
        sizes = [sizes] * len(self.types) if sizes is None or isinstance(sizes, int) else list(sizes)
        self.array = ffi.new("CK_ATTRIBUTE[]", max(len(self.types), 1))
        self._bufs: list[Any] = []
        for i, (kind, size) in enumerate(zip(self.types, sizes, strict=True)):
            self.array[i].type = kind
            if size is None:
                self.array[i].pValue, self.array[i].ulValueLen = ffi.NULL, 0
                self._bufs.append(None)
            else:
                buf = ffi.new("CK_BYTE[]", max(size, 1))
                self._bufs.append(buf)
                self.array[i].pValue, self.array[i].ulValueLen = buf, size

    def run(self, module: Module, h: int, obj: int) -> str:
        return rv_name(module.rv("C_GetAttributeValue", h, obj, self.array, len(self.types)))

    def length(self, i: int) -> int:
        return int(self.array[i].ulValueLen)

    def value(self, i: int) -> Any:
        """The decoded value of entry ``i``; None when unavailable or not asked for."""
        n = self.length(i)
        if self._bufs[i] is None or n == UNAVAILABLE:
            return None
        return decode(self.types[i], bytes(ffi.buffer(self._bufs[i], n)))


# ------------------------------------------------------------------------------- object calls
Values = Mapping[int, Any] | Iterable[tuple[int, Any]]


def create_rv(module: Module, h: int, values: Values) -> tuple[str, int]:
    t = Template(values)
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = rv_name(module.rv("C_CreateObject", h, t.ptr, len(t), out))
    return rv, int(out[0])


def create(module: Module, h: int, values: Values) -> int:
    rv, obj = create_rv(module, h, values)
    if rv != "OK":
        raise CKRError("C_CreateObject", _code(rv))
    return obj


def copy_rv(module: Module, h: int, obj: int, values: Mapping[int, Any] | None = None) -> tuple[str, int]:
    t = Template(values or {})
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = rv_name(module.rv("C_CopyObject", h, obj, t.ptr, len(t), out))
    return rv, int(out[0])


def copy(module: Module, h: int, obj: int, values: Mapping[int, Any] | None = None) -> int:
    rv, new = copy_rv(module, h, obj, values)
    if rv != "OK":
        raise CKRError("C_CopyObject", _code(rv))
    return new


def set_rv(module: Module, h: int, obj: int, values: Mapping[int, Any]) -> str:
    t = Template(values)
    return rv_name(module.rv("C_SetAttributeValue", h, obj, t.ptr, len(t)))


def destroy_rv(module: Module, h: int, obj: int) -> str:
    return rv_name(module.rv("C_DestroyObject", h, obj))


def size_rv(module: Module, h: int, obj: int) -> tuple[str, int]:
    out = ffi.new("CK_ULONG *")
    rv = rv_name(module.rv("C_GetObjectSize", h, obj, out))
    return rv, int(out[0])


def get_rv(module: Module, h: int, obj: int, types: Sequence[int]) -> tuple[str, dict[int, Any]]:
    """Ask for the lengths, then the values (the two-call idiom of 5.2); None for entries the
    module marked CK_UNAVAILABLE_INFORMATION."""
    sizing = Query(types, None)
    first = sizing.run(module, h, obj)
    if first not in ("OK", "ATTRIBUTE_SENSITIVE", "ATTRIBUTE_TYPE_INVALID"):
        return first, {}
    sizes = [None if sizing.length(i) == UNAVAILABLE else sizing.length(i) for i in range(len(types))]
    q = Query(types, sizes)
    rv = q.run(module, h, obj)
    return rv, {kind: q.value(i) for i, kind in enumerate(types)}


def get(module: Module, h: int, obj: int, types: Sequence[int]) -> dict[int, Any]:
    rv, values = get_rv(module, h, obj, types)
    if rv != "OK":
        raise CKRError("C_GetAttributeValue", _code(rv))
    return values


def get1(module: Module, h: int, obj: int, kind: int) -> Any:
    return get(module, h, obj, [kind])[kind]


def find_init_rv(module: Module, h: int, values: Values) -> tuple[str, Template]:
    t = Template(values)
    return rv_name(module.rv("C_FindObjectsInit", h, t.ptr, len(t))), t


def find_next(module: Module, h: int, max_count: int = 16) -> list[int]:
    out = ffi.new("CK_OBJECT_HANDLE[]", max(max_count, 1))
    count = ffi.new("CK_ULONG *")
    module.check("C_FindObjects", h, out, max_count, count)
    assert count[0] <= max_count
    return [int(out[i]) for i in range(count[0])]


def find(module: Module, h: int, values: Values = (), batch: int = 64) -> list[int]:
    """Every handle C_FindObjects returns for the template (init, loop, final)."""
    rv, _t = find_init_rv(module, h, values)
    if rv != "OK":
        raise CKRError("C_FindObjectsInit", _code(rv))
    found: list[int] = []
    try:
        while True:
            chunk = find_next(module, h, batch)
            found.extend(chunk)
            if len(chunk) < batch:
                break
    finally:
        module.check("C_FindObjectsFinal", h)
    return found


def generate_key(module: Module, h: int, mechanism: int, values: Mapping[int, Any]) -> tuple[str, int]:
    mech = ffi.new("CK_MECHANISM *", {"mechanism": mechanism, "pParameter": ffi.NULL, "ulParameterLen": 0})
    t = Template(values)
    out = ffi.new("CK_OBJECT_HANDLE *")
    return rv_name(module.rv("C_GenerateKey", h, mech, t.ptr, len(t), out)), int(out[0])


def generate_key_pair(
    module: Module, h: int, mechanism: int, public: Mapping[int, Any], private: Mapping[int, Any]
) -> tuple[int, int]:
    mech = ffi.new("CK_MECHANISM *", {"mechanism": mechanism, "pParameter": ffi.NULL, "ulParameterLen": 0})
    pub, priv = Template(public), Template(private)
    hpub, hpriv = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    module.check("C_GenerateKeyPair", h, mech, pub.ptr, len(pub), priv.ptr, len(priv), hpub, hpriv)
    return int(hpub[0]), int(hpriv[0])


def _code(name: str) -> int:
    return CKR.get(name, MORE_CKR.get(name, -1))


# ------------------------------------------------------------------------------- tokens
@dataclass
class Ctx:
    """A ready token with a read-write session ``h`` in which the user is logged in."""

    module: Module
    slot: int
    h: int


def user_ctx(module: Module, login: bool = True) -> Ctx:
    slot = module.ready_token()
    h = module.open(slot)
    if login:
        module.login(h, CKU_USER, USER_PIN)
    return Ctx(module, slot, h)


# ------------------------------------------------------------------------------- key material
def _big(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def der_octet_string(data: bytes) -> bytes:
    n = len(data)
    if n < 0x80:
        return b"\x04" + bytes([n]) + data
    size = _big(n)
    return b"\x04" + bytes([0x80 | len(size)]) + size + data


def printable(name: str) -> bytes:
    return bytes([0x13, len(name)]) + name.encode()


EC_OIDS = {
    "P-256": bytes.fromhex("06082a8648ce3d030107"),
    "P-384": bytes.fromhex("06052b81040022"),
    "P-521": bytes.fromhex("06052b81040023"),
    "secp256k1": bytes.fromhex("06052b8104000a"),
    "Ed25519": bytes.fromhex("06032b6570"),
    "Ed448": bytes.fromhex("06032b6571"),
    "X25519": bytes.fromhex("06032b656e"),
    "X448": bytes.fromhex("06032b656f"),
}
EC_PRINTABLE = {"Ed25519": "edwards25519", "Ed448": "edwards448", "X25519": "curve25519", "X448": "curve448"}


@cache
def rsa_key(bits: int = 2048, which: int = 0) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_templates(bits: int = 2048, which: int = 0) -> tuple[dict[int, Any], dict[int, Any]]:
    """(public, private) templates of an RSA key made in software, all CRT parts given."""
    key = rsa_key(bits, which)
    priv = key.private_numbers()
    pub = priv.public_numbers
    public = {CKA_CLASS: CKO_PUBLIC_KEY, CKA_KEY_TYPE: CKK_RSA, CKA_MODULUS: _big(pub.n),
              CKA_PUBLIC_EXPONENT: _big(pub.e)}  # fmt: skip
    private = {
        CKA_CLASS: CKO_PRIVATE_KEY, CKA_KEY_TYPE: CKK_RSA, CKA_MODULUS: _big(pub.n),
        CKA_PUBLIC_EXPONENT: _big(pub.e), CKA_PRIVATE_EXPONENT: _big(priv.d),
        CKA_PRIME_1: _big(priv.p), CKA_PRIME_2: _big(priv.q), CKA_EXPONENT_1: _big(priv.dmp1),
        CKA_EXPONENT_2: _big(priv.dmq1), CKA_COEFFICIENT: _big(priv.iqmp),
    }  # fmt: skip
    return public, private


_WEIERSTRASS = {"P-256": "SECP256R1", "P-384": "SECP384R1", "P-521": "SECP521R1", "secp256k1": "SECP256K1"}


def ec_templates(curve: str, params: str = "oid") -> tuple[dict[int, Any], dict[int, Any]]:
    """(public, private) templates for ``curve`` (a key of EC_OIDS); ``params`` "oid" or
    "printable" (the curve-name PrintableString of SoftHSMv2 / pkcs11-tool, Edwards and
    Montgomery curves only)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, x448, x25519
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    ec_params = EC_OIDS[curve] if params == "oid" else printable(EC_PRINTABLE[curve])
    if curve in _WEIERSTRASS:
        key = ec.generate_private_key(getattr(ec, _WEIERSTRASS[curve])())
        size = (key.curve.key_size + 7) // 8
        value = key.private_numbers().private_value.to_bytes(size, "big")
        point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        key_type = CKK_EC
    else:
        family = {"Ed25519": ed25519.Ed25519PrivateKey, "Ed448": ed448.Ed448PrivateKey,
                  "X25519": x25519.X25519PrivateKey, "X448": x448.X448PrivateKey}[curve]  # fmt: skip
        key = family.generate()
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        value = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        point = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        key_type = CKK_EC_EDWARDS if curve.startswith("Ed") else CKK_EC_MONTGOMERY
    public = {CKA_CLASS: CKO_PUBLIC_KEY, CKA_KEY_TYPE: key_type, CKA_EC_PARAMS: ec_params,
              CKA_EC_POINT: der_octet_string(point)}  # fmt: skip
    private = {CKA_CLASS: CKO_PRIVATE_KEY, CKA_KEY_TYPE: key_type, CKA_EC_PARAMS: ec_params,
               CKA_VALUE: value}  # fmt: skip
    return public, private


def off_curve_point(curve: str = "P-256") -> bytes:
    """An uncompressed point of the right length whose y does not satisfy the curve equation."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.generate_private_key(getattr(ec, _WEIERSTRASS[curve])())
    point = bytearray(key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    point[-1] ^= 0x01  # y+-1: (x, y') is not on the curve (y is the only root pair)
    return der_octet_string(bytes(point))


def secret_template(key_type: int = CKK_AES, value: bytes = bytes(range(16)), **flags: Any) -> dict[int, Any]:
    out = {CKA_CLASS: CKO_SECRET_KEY, CKA_KEY_TYPE: key_type, CKA_VALUE: value}
    out.update(flag_attrs(flags))
    return out


def data_template(label: str = "data", value: bytes = b"payload", **flags: Any) -> dict[int, Any]:
    out = {CKA_CLASS: CKO_DATA, CKA_LABEL: label, CKA_APPLICATION: "softhsm-py tests", CKA_VALUE: value}
    out.update(flag_attrs(flags))
    return out


_FLAG_NAMES = {
    "token": CKA_TOKEN, "private": CKA_PRIVATE, "sensitive": CKA_SENSITIVE,
    "extractable": CKA_EXTRACTABLE, "modifiable": CKA_MODIFIABLE, "copyable": CKA_COPYABLE,
    "destroyable": CKA_DESTROYABLE, "label": CKA_LABEL, "id": CKA_ID,
}  # fmt: skip


def flag_attrs(flags: Mapping[str, Any]) -> dict[int, Any]:
    return {_FLAG_NAMES[name]: value for name, value in flags.items()}


@cache
def certificate(common_name: str = "softhsm-py test") -> dict[int, Any]:
    """An X.509 certificate template (self-signed P-256, made with cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return {
        CKA_CLASS: CKO_CERTIFICATE, CKA_CERTIFICATE_TYPE: CKC_X_509,
        CKA_SUBJECT: name.public_bytes(), CKA_ISSUER: name.public_bytes(),
        CKA_SERIAL_NUMBER: bytes.fromhex("021212"), CKA_VALUE: cert.public_bytes(Encoding.DER),
    }  # fmt: skip
