"""A logged-in read-write user session on a fresh token (``Token``), with the calls of the
mechanism tests bound to it: object creation and attribute reads, key generation, wrap/unwrap/derive,
one-shot and multi-part operations following the two-call output protocol (size query with a NULL
buffer, then the real call), and the module's mechanism list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .constants import Attribute, KeyType, ObjectClass, UserType, rv_name
from .mechanisms import Mech, mech
from .pkcs11 import USER_PIN, CKRError, Module, ffi
from .templates import Template, cbytes

A = Attribute


class Token:
    """A logged-in R/W user session on a fresh token of ``module``."""

    def __init__(self, module: Module) -> None:
        self.m = module
        self.slot = module.ready_token()
        self.h = module.open(self.slot)
        module.login(self.h, UserType.USER, USER_PIN)

    @property
    def softhsm2(self) -> bool:
        return self.m.softhsm2

    # -- raw -----------------------------------------------------------------------------------
    def rv(self, name: str, *args: Any) -> str:
        """Call ``name`` with this session first; return the CKR name."""
        return rv_name(self.m.rv(name, self.h, *args))

    def ok(self, name: str, *args: Any) -> None:
        rv = self.m.rv(name, self.h, *args)
        if rv != 0:
            raise CKRError(name, rv)

    def expect(self, expected: str | Iterable[str], name: str, *args: Any) -> str:
        allowed = (expected,) if isinstance(expected, str) else tuple(expected)
        got = self.rv(name, *args)
        assert got in allowed, f"{name}: expected CKR_{'/'.join(allowed)}, got CKR_{got}"
        return got

    # -- objects -------------------------------------------------------------------------------
    def create(self, attrs: dict[int, Any]) -> int:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_CreateObject", t.ptr, t.count, out)
        return int(out[0])

    def get(self, obj: int, kind: int) -> bytes:
        attr = ffi.new("CK_ATTRIBUTE *", {"type": kind, "pValue": ffi.NULL, "ulValueLen": 0})
        self.ok("C_GetAttributeValue", obj, attr, 1)
        buf = ffi.new("CK_BYTE[]", max(int(attr.ulValueLen), 1))
        attr.pValue = buf
        self.ok("C_GetAttributeValue", obj, attr, 1)
        return bytes(ffi.buffer(buf, int(attr.ulValueLen)))

    def get_bool(self, obj: int, kind: int) -> bool:
        return self.get(obj, kind) != b"\x00"

    def get_ulong(self, obj: int, kind: int) -> int:
        return int(ffi.cast("CK_ULONG *", ffi.from_buffer(self.get(obj, kind)))[0])

    def get_rv(self, obj: int, kind: int) -> str:
        attr = ffi.new("CK_ATTRIBUTE *", {"type": kind, "pValue": ffi.NULL, "ulValueLen": 0})
        return self.rv("C_GetAttributeValue", obj, attr, 1)

    def set(self, obj: int, attrs: dict[int, Any]) -> None:
        t = Template(attrs)
        self.ok("C_SetAttributeValue", obj, t.ptr, t.count)

    # -- keys ----------------------------------------------------------------------------------
    def generate_key(self, mechanism: int | Mech, attrs: dict[int, Any], with_class: bool = True) -> int:
        """C_GenerateKey; the template gets CKA_CLASS (as pkcs11-tool sends it) unless told not to."""
        if with_class:
            attrs = {A.CLASS: ObjectClass.SECRET_KEY, **attrs}
        mm, t = mech(mechanism) if isinstance(mechanism, int) else mechanism, Template(attrs)
        out = ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_GenerateKey", mm.ptr, t.ptr, t.count, out)
        return int(out[0])

    def generate_pair(
        self,
        mechanism: int | Mech,
        pub: dict[int, Any],
        priv: dict[int, Any] | None = None,
        with_class: bool = True,
    ) -> tuple[int, int]:
        """C_GenerateKeyPair; both templates get CKA_CLASS unless told not to."""
        if with_class:
            pub, priv = (
                {A.CLASS: ObjectClass.PUBLIC_KEY, **pub},
                {A.CLASS: ObjectClass.PRIVATE_KEY, **(priv or {})},
            )
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        tp, tq = Template(pub), Template(priv or {})
        hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_GenerateKeyPair", mm.ptr, tp.ptr, tp.count, tq.ptr, tq.count, hp, hq)
        return int(hp[0]), int(hq[0])

    def secret(self, value: bytes, key_type: int = KeyType.AES, **extra: Any) -> int:
        """Import a session secret key usable for everything (override with CKA names)."""
        attrs: dict[int, Any] = {
            A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: key_type, A.TOKEN: False, A.VALUE: value,
            A.ENCRYPT: True, A.DECRYPT: True, A.SIGN: True, A.VERIFY: True,
            A.WRAP: True, A.UNWRAP: True, A.DERIVE: True, A.EXTRACTABLE: True,
            A.SENSITIVE: False,
        }  # fmt: skip
        attrs.update({Attribute[k]: v for k, v in extra.items()})
        return self.create(attrs)

    def aes(self, size: int = 32, **extra: Any) -> tuple[int, bytes]:
        value = bytes(range(1, size + 1))
        return self.secret(value, KeyType.AES, **extra), value

    def wrap(self, mechanism: Mech, wrapping: int, key: int) -> bytes:
        n = ffi.new("CK_ULONG *")
        self.ok("C_WrapKey", mechanism.ptr, wrapping, key, ffi.NULL, n)
        buf = ffi.new("CK_BYTE[]", max(int(n[0]), 1))
        self.ok("C_WrapKey", mechanism.ptr, wrapping, key, buf, n)
        return bytes(ffi.buffer(buf, int(n[0])))

    def wrap_rv(self, mechanism: Mech, wrapping: int, key: int) -> str:
        n = ffi.new("CK_ULONG *", 4096)
        buf = ffi.new("CK_BYTE[]", 4096)
        return self.rv("C_WrapKey", mechanism.ptr, wrapping, key, buf, n)

    def unwrap(self, mechanism: Mech, key: int, wrapped: bytes, attrs: dict[int, Any]) -> int:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_UnwrapKey", mechanism.ptr, key, cbytes(wrapped), len(wrapped), t.ptr, t.count, out)
        return int(out[0])

    def unwrap_rv(self, mechanism: Mech, key: int, wrapped: bytes, attrs: dict[int, Any]) -> str:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        return self.rv("C_UnwrapKey", mechanism.ptr, key, cbytes(wrapped), len(wrapped), t.ptr, t.count, out)

    def derive(self, mechanism: Mech, base: int, attrs: dict[int, Any]) -> int:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_DeriveKey", mechanism.ptr, base, t.ptr, t.count, out)
        return int(out[0])

    def derive_rv(self, mechanism: Mech, base: int, attrs: dict[int, Any]) -> str:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        return self.rv("C_DeriveKey", mechanism.ptr, base, t.ptr, t.count, out)

    def encapsulate(
        self, mechanism: Mech, public: int, attrs: dict[int, Any] | None = None
    ) -> tuple[int, bytes]:
        """C_EncapsulateKey (3.2) in two calls (the ciphertext's length, then the key): (the new
        secret key, the ciphertext). The template names a session generic secret by default."""
        t = Template(self._kem_template(attrs))
        n, out = ffi.new("CK_ULONG *"), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_EncapsulateKey", mechanism.ptr, public, t.ptr, t.count, ffi.NULL, n, out)
        buf = ffi.new("CK_BYTE[]", max(int(n[0]), 1))
        self.ok("C_EncapsulateKey", mechanism.ptr, public, t.ptr, t.count, buf, n, out)
        return int(out[0]), bytes(ffi.buffer(buf, int(n[0])))

    def decapsulate(
        self, mechanism: Mech, private: int, ciphertext: bytes, attrs: dict[int, Any] | None = None
    ) -> int:
        t, out = Template(self._kem_template(attrs)), ffi.new("CK_OBJECT_HANDLE *")
        self.ok(
            "C_DecapsulateKey",
            mechanism.ptr,
            private,
            t.ptr,
            t.count,
            cbytes(ciphertext),
            len(ciphertext),
            out,
        )
        return int(out[0])

    @staticmethod
    def _kem_template(attrs: dict[int, Any] | None) -> dict[int, Any]:
        base: dict[int, Any] = {
            A.CLASS: ObjectClass.SECRET_KEY,
            A.KEY_TYPE: KeyType.GENERIC_SECRET,
            A.TOKEN: False,
        }
        return {**base, **(attrs or {})}

    # -- the output protocol -------------------------------------------------------------------
    def out(self, name: str, *args: Any) -> bytes:
        """Call ``name(h, *args, pOut, pulOut)`` twice: size query, then the real call."""
        n = ffi.new("CK_ULONG *")
        self.ok(name, *args, ffi.NULL, n)
        announced = int(n[0])
        buf = ffi.new("CK_BYTE[]", max(announced, 1))
        self.ok(name, *args, buf, n)
        assert int(n[0]) <= announced, f"{name}: wrote {n[0]} bytes after announcing {announced}"
        return bytes(ffi.buffer(buf, int(n[0])))

    def _data(self, data: bytes) -> tuple[Any, int]:
        return cbytes(data), len(data)

    # -- one-shot operations -------------------------------------------------------------------
    def sign(self, mechanism: Mech | int, key: int, data: bytes) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_SignInit", mm.ptr, key)
        return self.out("C_Sign", *self._data(data))

    def verify(self, mechanism: Mech | int, key: int, data: bytes, signature: bytes) -> str:
        """The CKR name of C_Verify (OK or SIGNATURE_INVALID...)."""
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_VerifyInit", mm.ptr, key)
        return self.rv("C_Verify", *self._data(data), cbytes(signature), len(signature))

    def encrypt(self, mechanism: Mech | int, key: int, data: bytes) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_EncryptInit", mm.ptr, key)
        return self.out("C_Encrypt", *self._data(data))

    def decrypt(self, mechanism: Mech | int, key: int, data: bytes) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_DecryptInit", mm.ptr, key)
        return self.out("C_Decrypt", *self._data(data))

    def decrypt_rv(self, mechanism: Mech | int, key: int, data: bytes) -> str:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_DecryptInit", mm.ptr, key)
        n = ffi.new("CK_ULONG *", len(data) + 64)
        buf = ffi.new("CK_BYTE[]", len(data) + 64)
        return self.rv("C_Decrypt", *self._data(data), buf, n)

    def digest(self, mechanism: int, data: bytes) -> bytes:
        self.ok("C_DigestInit", mech(mechanism).ptr)
        return self.out("C_Digest", *self._data(data))

    # -- multi-part ----------------------------------------------------------------------------
    def sign_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_SignInit", mm.ptr, key)
        for part in parts:
            self.ok("C_SignUpdate", *self._data(part))
        return self.out("C_SignFinal")

    def verify_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes], signature: bytes) -> str:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_VerifyInit", mm.ptr, key)
        for part in parts:
            self.ok("C_VerifyUpdate", *self._data(part))
        return self.rv("C_VerifyFinal", cbytes(signature), len(signature))

    def _cipher_parts(self, kind: str, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok(f"C_{kind}Init", mm.ptr, key)
        out = b""
        for part in parts:
            out += self.out(f"C_{kind}Update", *self._data(part))
        return out + self.out(f"C_{kind}Final")

    def encrypt_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        return self._cipher_parts("Encrypt", mechanism, key, parts)

    def decrypt_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        return self._cipher_parts("Decrypt", mechanism, key, parts)

    def digest_parts(self, mechanism: int, parts: Iterable[bytes]) -> bytes:
        self.ok("C_DigestInit", mech(mechanism).ptr)
        for part in parts:
            self.ok("C_DigestUpdate", *self._data(part))
        return self.out("C_DigestFinal")

    # -- mechanism list ------------------------------------------------------------------------
    def require(self, *mechanisms: int) -> None:
        """Skip unless the module lists every one of ``mechanisms`` (SoftHSMv2 2.6.1 has no
        X25519/X448, ChaCha20-Poly1305, HKDF, SHA-3 HMAC...: missing, not a departure)."""
        import pytest

        listed = set(self.mechanisms())
        missing = [f"0x{m:x}" for m in mechanisms if m not in listed]
        if missing:
            pytest.skip(f"{self.m.name} does not offer mechanism {', '.join(missing)}")

    def mechanisms(self) -> list[int]:
        n = ffi.new("CK_ULONG *")
        self.m.check("C_GetMechanismList", self.slot, ffi.NULL, n)
        arr = ffi.new("CK_MECHANISM_TYPE[]", max(int(n[0]), 1))
        self.m.check("C_GetMechanismList", self.slot, arr, n)
        return [int(arr[i]) for i in range(int(n[0]))]

    def mechanism_info(self, mechanism: int) -> Any:
        info = ffi.new("CK_MECHANISM_INFO *")
        self.m.check("C_GetMechanismInfo", self.slot, mechanism, info)
        return info


def split(data: bytes, *sizes: int) -> list[bytes]:
    """``data`` cut at the given sizes (the rest is the last part)."""
    out, pos = [], 0
    for size in sizes:
        out.append(data[pos : pos + size])
        pos += size
    return [*out, data[pos:]]
