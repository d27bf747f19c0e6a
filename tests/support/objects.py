"""Object calls through the C ABI as functions of (module, session) (PKCS#11 3.0, 5.7), each in
two forms: ``create_rv`` returns the CKR name, ``create`` raises CKRError unless CKR_OK; and the
templates of data objects and secret keys the object tests start from.

    obj = create(module, h, {Attribute.CLASS: ObjectClass.DATA})
    rv, values = get_rv(module, h, obj, [Attribute.LABEL])     # ("OK", {Attribute.LABEL: b"x"})

The session-bound form for the mechanism tests is support.token.Token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .constants import (
    UNAVAILABLE_INFORMATION,
    Attribute,
    KeyType,
    ObjectClass,
    ReturnValue,
    UserType,
    rv_name,
)
from .pkcs11 import USER_PIN, CKRError, Module, ffi
from .templates import Query, Template, Values


# ------------------------------------------------------------------------------- object calls
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
    sizes = [
        None if sizing.length(i) == UNAVAILABLE_INFORMATION else sizing.length(i) for i in range(len(types))
    ]
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
    return int(ReturnValue[name]) if name in ReturnValue.__members__ else -1


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
        module.login(h, UserType.USER, USER_PIN)
    return Ctx(module, slot, h)


# ------------------------------------------------------------------------------- templates
def secret_template(
    key_type: int = KeyType.AES, value: bytes = bytes(range(16)), **flags: Any
) -> dict[int, Any]:
    out = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: key_type, Attribute.VALUE: value}
    out.update(flag_attrs(flags))
    return out


def data_template(label: str = "data", value: bytes = b"payload", **flags: Any) -> dict[int, Any]:
    out = {
        Attribute.CLASS: ObjectClass.DATA,
        Attribute.LABEL: label,
        Attribute.APPLICATION: "softhsm-py tests",
        Attribute.VALUE: value,
    }
    out.update(flag_attrs(flags))
    return out


_FLAG_NAMES = {
    "token": Attribute.TOKEN, "private": Attribute.PRIVATE, "sensitive": Attribute.SENSITIVE,
    "extractable": Attribute.EXTRACTABLE, "modifiable": Attribute.MODIFIABLE, "copyable": Attribute.COPYABLE,
    "destroyable": Attribute.DESTROYABLE, "label": Attribute.LABEL, "id": Attribute.ID,
}  # fmt: skip


def flag_attrs(flags: Mapping[str, Any]) -> dict[int, Any]:
    return {_FLAG_NAMES[name]: value for name, value in flags.items()}
