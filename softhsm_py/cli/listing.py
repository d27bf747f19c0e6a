"""``softhsm-py list-objects``: a token's objects, their public attributes and RFC 7512 URIs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import quote

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, ObjectClass, SessionFlag, UserType
from softhsm_py.core import sessions
from softhsm_py.core.runtime import Library
from softhsm_py.pkcs11 import objects, slots

# RFC 7512 2.3: the "type" attribute's values, by object class.
URI_TYPES = {
    ObjectClass.CERTIFICATE: "cert",
    ObjectClass.DATA: "data",
    ObjectClass.PRIVATE_KEY: "private",
    ObjectClass.PUBLIC_KEY: "public",
    ObjectClass.SECRET_KEY: "secret-key",
}
# RFC 7512 2.3: pk11-pchar = unreserved / pct-encoded / ":" / "[" / "]" / "@" / "!" / "$" /
# "'" / "(" / ")" / "*" / "+" / "," / "=" / "&"
_SAFE = ":[]@!$'()*+,=&"
SHOWN = (
    Attribute.CLASS,
    Attribute.LABEL,
    Attribute.ID,
    Attribute.KEY_TYPE,
    Attribute.TOKEN,
    Attribute.PRIVATE,
)


def pct(value: bytes) -> str:
    return quote(value, safe=_SAFE)


def uri(token_label: str, serial: str, label: bytes | None, ident: bytes | None, cls: int | None) -> str:
    parts = [
        f"token={pct(token_label.encode())}",
        "manufacturer=softhsm-py",
        f"serial={pct(serial.encode())}",
        "model=softhsm-py",
    ]
    if label:
        parts.append(f"object={pct(label)}")
    if ident:
        parts.append("id=" + "".join(f"%{b:02x}" for b in ident))
    if cls in URI_TYPES:
        parts.append(f"type={URI_TYPES[ObjectClass(cls)]}")
    return "pkcs11:" + ";".join(parts)


def _value(answer: object) -> bytes | None:
    return answer if isinstance(answer, bytes) else None


def list_objects(lib: Library, slot_id: int, pin: bytes | None) -> Iterator[str]:
    info = slots.get_token_info(lib, slot_id)
    handle = sessions.open_session(lib, slot_id, SessionFlag.SERIAL_SESSION)
    try:
        if pin is not None:
            sessions.login(lib, handle, UserType.USER, pin)
        objects.find_objects_init(lib, handle, [])
        found = objects.find_objects(lib, handle, 1 << 30)
        objects.find_objects_final(lib, handle)
        for obj in found:
            answers = objects.get_attribute_value(lib, handle, obj, list(SHOWN))
            raw = dict(zip(SHOWN, answers, strict=True))
            cls = int.from_bytes(raw[Attribute.CLASS], "little")
            label = _value(raw[Attribute.LABEL])
            ident = _value(raw[Attribute.ID])
            kind = ObjectClass(cls).name.lower() if cls in ObjectClass._value2member_map_ else hex(cls)
            key_type = _value(raw[Attribute.KEY_TYPE])
            if key_type is not None:
                kt = int.from_bytes(key_type, "little")
                kind += f" ({KeyType(kt).name.lower() if kt in KeyType._value2member_map_ else hex(kt)})"
            flags = [
                name
                for name, attr in (("token", Attribute.TOKEN), ("private", Attribute.PRIVATE))
                if raw[attr] == b"\x01"
            ]
            shown_label = (label or b"").decode("utf-8", "replace")
            yield f"{kind} label='{shown_label}' id={(ident or b'').hex() or '-'} [{', '.join(flags)}]"
            yield f"    {uri(info.label, info.serial, label, ident, cls)}"
    finally:
        with contextlib.suppress(errors.PKCS11Error):
            sessions.close_session(lib, handle)
