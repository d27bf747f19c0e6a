"""Where softhsm-py followed a host's habit instead of the spec, or left a spec rule out, and now
follows the spec (issue: "Spec-faithful where it matters"). Each failed before its fix.

Defaults (CKA_DERIVE FALSE, a secret key's CKA_SENSITIVE FALSE) are pinned in
test_objects_create.py and unit/test_factory.py; size queries in test_size_queries.py."""

from __future__ import annotations

import pytest

from support.constants import Attribute, KeyType, Mechanism, ObjectClass, UserType
from support.keys import P256, rsa_templates
from support.mechanisms import ecdh, hkdf, mech, oaep
from support.objects import create, get1, set_rv, size_rv, user_ctx
from support.pkcs11 import SO_PIN, Module, spec_departure
from support.token import Token

CKF_DUAL_CRYPTO_OPERATIONS = 0x200
CK_UNAVAILABLE_INFORMATION = 0xFFFFFFFFFFFFFFFF


# SoftHSMv2 starts an RSA or ECDSA signature with an AES key (and fails only at C_Sign).
_ACCEPTS_ANY_KEY = spec_departure("SoftHSMv2", clause="5.11 C_SignInit: CKR_KEY_TYPE_INCONSISTENT")


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


# ----------------------------------------------------------------- error precedence (3.0, 5.1.x)
@pytest.mark.parametrize(
    ("function", "mechanism"),
    [
        ("C_EncryptInit", Mechanism.RSA_PKCS),
        pytest.param("C_SignInit", Mechanism.SHA256_RSA_PKCS, marks=_ACCEPTS_ANY_KEY),
        pytest.param("C_SignInit", Mechanism.ECDSA, marks=_ACCEPTS_ANY_KEY),
        ("C_DecryptInit", Mechanism.RSA_PKCS_OAEP),
    ],
)
def test_a_key_of_another_type_is_key_type_inconsistent(t: Token, function: str, mechanism: int) -> None:
    """The AES key has every usage attribute: what is wrong is its type (KEY_TYPE_INCONSISTENT,
    not KEY_FUNCTION_NOT_PERMITTED)."""
    key = t.secret(bytes(32))
    m = oaep() if mechanism == Mechanism.RSA_PKCS_OAEP else mech(mechanism)
    assert t.rv(function, m.ptr, key) == "KEY_TYPE_INCONSISTENT"


def test_wrapping_with_a_key_of_another_type(t: Token) -> None:
    wrapping = t.secret(bytes(32))
    key = t.secret(bytes(16))
    assert t.wrap_rv(mech(Mechanism.RSA_PKCS), wrapping, key) == "WRAPPING_KEY_TYPE_INCONSISTENT"


# ----------------------------------------------------------------------------- token flags (3.0, 4.x)
@spec_departure("SoftHSMv2", clause="4.x CK_TOKEN_INFO: CKF_DUAL_CRYPTO_OPERATIONS (its dual functions work)")
def test_the_token_says_the_dual_functions_work(module: Module) -> None:
    slot = module.ready_token()
    assert module.token_info(slot).flags & CKF_DUAL_CRYPTO_OPERATIONS


# ------------------------------------------------------- keys that ask for a context login (4.9)
def test_unwrap_and_derive_refuse_a_key_that_asks_for_a_context_login(t: Token) -> None:
    """C_UnwrapKey and C_DeriveKey are single calls: no *Init gives a C_Login(CKU_CONTEXT_SPECIFIC)
    a place. A key with CKA_ALWAYS_AUTHENTICATE is refused there (SoftHSMv2 ignores the attribute)."""
    if t.softhsm2:
        pytest.skip("SoftHSMv2 does not enforce CKA_ALWAYS_AUTHENTICATE")
    pub, priv = t.generate_pair(
        Mechanism.RSA_PKCS_KEY_PAIR_GEN,
        {Attribute.MODULUS_BITS: 2048, Attribute.WRAP: True, Attribute.TOKEN: False},
        {Attribute.UNWRAP: True, Attribute.TOKEN: False, Attribute.ALWAYS_AUTHENTICATE: True},
    )
    wrapped = t.wrap(mech(Mechanism.RSA_PKCS), pub, t.secret(bytes(16)))
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.TOKEN: False,
    }
    assert t.unwrap_rv(mech(Mechanism.RSA_PKCS), priv, wrapped, template) == "USER_NOT_LOGGED_IN"
    _, ec_priv = t.generate_pair(
        Mechanism.EC_KEY_PAIR_GEN,
        {Attribute.EC_PARAMS: P256, Attribute.TOKEN: False},
        {Attribute.DERIVE: True, Attribute.TOKEN: False, Attribute.ALWAYS_AUTHENTICATE: True},
    )
    peer = t.get(pub, Attribute.MODULUS)  # any bytes: the key is refused before the parameter is read
    derive_template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE_LEN: 32,
    }
    assert t.derive_rv(ecdh(peer), ec_priv, derive_template) == "USER_NOT_LOGGED_IN"


# ------------------------------------------------------------ CKA_DERIVE_TEMPLATE on private keys
def test_a_private_keys_derive_template_binds_what_it_derives(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("SoftHSMv2 has no CKA_DERIVE_TEMPLATE on private keys")

    peer_pub, _ = t.generate_pair(
        Mechanism.EC_KEY_PAIR_GEN,
        {Attribute.EC_PARAMS: P256, Attribute.TOKEN: False},
        {Attribute.DERIVE: True, Attribute.TOKEN: False},
    )
    point = t.get(peer_pub, Attribute.EC_POINT)
    required = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False}
    _, priv = t.generate_pair(
        Mechanism.EC_KEY_PAIR_GEN,
        {Attribute.EC_PARAMS: P256, Attribute.TOKEN: False},
        {Attribute.DERIVE: True, Attribute.TOKEN: False, Attribute.DERIVE_TEMPLATE: required},
    )
    base = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE_LEN: 32,
        Attribute.TOKEN: False,
    }
    assert t.derive_rv(ecdh(point), priv, {**base, Attribute.EXTRACTABLE: True}) == "TEMPLATE_INCONSISTENT"
    derived = t.derive(ecdh(point), priv, base)
    assert t.get_bool(derived, Attribute.SENSITIVE) and not t.get_bool(derived, Attribute.EXTRACTABLE)


# ------------------------------------------------------- the HKDF salt key counts in the history
def test_an_hkdf_salt_key_that_left_the_token_ends_never_extractable(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("SoftHSMv2 has no HKDF")

    base = t.generate_key(
        Mechanism.GENERIC_SECRET_KEY_GEN,
        {
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE_LEN: 32,
            Attribute.DERIVE: True,
            Attribute.TOKEN: False,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        },
    )
    salt = t.secret(bytes(32), KeyType.GENERIC_SECRET)  # imported: never NEVER_EXTRACTABLE
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE_LEN: 32,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: True,
    }
    derived = t.derive(hkdf(salt_key=salt), base, template)
    assert t.get_bool(derived, Attribute.NEVER_EXTRACTABLE) is False
    assert t.get_bool(derived, Attribute.ALWAYS_SENSITIVE) is False  # the salt key was never sensitive


# ----------------------------------------------------------- C_GetObjectSize of hidden values (5.7)
def test_the_size_of_an_object_with_hidden_values_is_not_told(module: Module) -> None:
    c = user_ctx(module)
    _, private = rsa_templates()
    rv, n = size_rv(module, c.h, create(module, c.h, {**private, Attribute.TOKEN: False}))
    assert (rv, n) == ("OK", CK_UNAVAILABLE_INFORMATION)


# --------------------------------------------------------------------- CKA_TRUSTED on an existing key
def test_the_so_may_make_an_existing_public_key_trusted(module: Module) -> None:
    if module.softhsm2:
        pytest.skip("SoftHSMv2 refuses CKA_TRUSTED in C_SetAttributeValue")
    c = user_ctx(module)
    public, _ = rsa_templates()
    key = create(module, c.h, {**public, Attribute.TOKEN: True, Attribute.PRIVATE: False})

    assert set_rv(module, c.h, key, {Attribute.TRUSTED: True}) == "ATTRIBUTE_READ_ONLY"  # [10]: not the user
    module.check("C_Logout", c.h)
    module.login(c.h, UserType.SO, SO_PIN)
    assert set_rv(module, c.h, key, {Attribute.TRUSTED: True}) == "OK"
    assert get1(module, c.h, key, Attribute.TRUSTED) is True
