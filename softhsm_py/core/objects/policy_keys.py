"""Key tables: PKCS#11 3.0 sections 4.7-4.10 (common key, public, private, secret) and the
key-type sections (RSA 6.1.2-3, EC 6.3.3-4, EC_EDWARDS 6.3.5-6, EC_MONTGOMERY 6.3.7-8,
GENERIC_SECRET 6.7.3, AES 6.8.2). Footnote numbers in brackets, see ``policy``.

Usage defaults follow SoftHSMv2, because hosts rely on them (CLIENTS.md): Java sends an empty
private-key template and only CLASS + VALUE_LEN for AES, then expects the key to work.
"""

from __future__ import annotations

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, ObjectClass
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core.objects.policy import STORAGE, R, Table, compose, row

M, T = R.MODIFIABLE, R.TOKEN_SET

# --- 4.7 common key attributes -----------------------------------------------------------------
KEY = (
    *STORAGE,
    row(A.KEY_TYPE, R.REQUIRED_ON_CREATE | R.REQUIRED_ON_UNWRAP),  # [1,5]
    row(A.ID, M, b""),  # [8] NSS sets it after C_GenerateKeyPair
    row(A.START_DATE, M, b""),  # [8]
    row(A.END_DATE, M, b""),  # [8]
    row(A.DERIVE, M, False),  # [8]
    row(A.LOCAL, T),  # [2,4,6]
    row(A.KEY_GEN_MECHANISM, T),  # [2,4,6]
    row(A.ALLOWED_MECHANISMS, R.NONE, ()),  # () = no restriction
    row(V.CREATED, T),  # set by the factory for every key
)
# A key password (core.passwords): set and checked by the core, never read by anyone.
_PASSWORD_ROWS = (
    row(V.PASSWORD, T | R.NEVER_READABLE),
    row(V.PASSWORD_FAILURES, T | R.NEVER_READABLE),
)

# --- 4.8 public keys ---------------------------------------------------------------------------
PUBLIC_KEY = (
    *KEY,
    row(A.PRIVATE, R.CHANGE_ON_COPY, False),  # ssh-keygen -D lists them without login
    row(A.SUBJECT, M, b""),  # [8]
    row(A.ENCRYPT, M, True),  # [8]
    row(A.VERIFY, M, True),  # [8]
    row(A.VERIFY_RECOVER, M, True),  # [8]
    row(A.WRAP, M, True),  # [8]
    row(A.TRUSTED, R.SO_ONLY, False),  # [10]
    row(A.WRAP_TEMPLATE, R.NONE, {}),
    row(A.PUBLIC_KEY_INFO),  # computed from the key when absent or empty
)

# --- 4.9 private keys --------------------------------------------------------------------------
PRIVATE_KEY = (
    *KEY,
    row(A.PRIVATE, R.CHANGE_ON_COPY, True),
    row(A.SUBJECT, M, b""),  # [8]
    row(A.SENSITIVE, M | R.ONLY_TO_TRUE, True),  # [8,11]
    row(A.DECRYPT, M, True),  # [8,9]
    row(A.SIGN, M, True),  # [8,9]
    row(A.SIGN_RECOVER, M, True),  # [8,9]
    row(A.UNWRAP, M, True),  # [8,9]
    row(A.DERIVE, M, True),  # [8] SoftHSMv2's default; Java's ECDH needs it
    row(A.EXTRACTABLE, M | R.ONLY_TO_FALSE, False),  # [8,12]
    row(A.ALWAYS_SENSITIVE, T),  # [2,4,6]
    row(A.NEVER_EXTRACTABLE, T),  # [2,4,6]
    row(A.WRAP_WITH_TRUSTED, M | R.ONLY_TO_TRUE, False),  # [11]
    row(A.UNWRAP_TEMPLATE, R.NONE, {}),
    row(A.ALWAYS_AUTHENTICATE, R.NONE, False),
    row(A.PUBLIC_KEY_INFO),  # computed from the private key when absent or empty
    *_PASSWORD_ROWS,
    row(V.ATTESTATION, T),  # the partition's attestation key (core.attestation): no other use
)

# --- 4.10 secret keys: every usage defaults TRUE, as SoftHSMv2 does ----------------------------
SECRET_KEY = (
    *KEY,
    row(A.PRIVATE, R.CHANGE_ON_COPY, True),
    row(A.SENSITIVE, M | R.ONLY_TO_TRUE, True),  # [8,11]
    row(A.ENCRYPT, M, True),  # [8]
    row(A.DECRYPT, M, True),  # [8]
    row(A.SIGN, M, True),  # [8]
    row(A.VERIFY, M, True),  # [8]
    row(A.WRAP, M, True),  # [8]
    row(A.UNWRAP, M, True),  # [8]
    row(A.DERIVE, M, True),  # [8]
    row(A.EXTRACTABLE, M | R.ONLY_TO_FALSE, False),  # [8,12]
    row(A.ALWAYS_SENSITIVE, T),  # [2,4,6]
    row(A.NEVER_EXTRACTABLE, T),  # [2,4,6]
    row(A.CHECK_VALUE),  # computed; a given value must match, an empty one means "none"
    row(A.WRAP_WITH_TRUSTED, M | R.ONLY_TO_TRUE, False),  # [11]
    row(A.TRUSTED, R.SO_ONLY, False),  # [10]
    row(A.WRAP_TEMPLATE, R.NONE, {}),
    row(A.UNWRAP_TEMPLATE, R.NONE, {}),
    row(A.DERIVE_TEMPLATE, R.NONE, {}),
    # Not in the 3.0 secret-key table, but pkcs11-tool and libp11 read it on every key they use:
    # answering FALSE beats a CKR_ATTRIBUTE_TYPE_INVALID warning on each operation.
    row(A.ALWAYS_AUTHENTICATE, R.NONE, False),
    *_PASSWORD_ROWS,
)

# --- key types ---------------------------------------------------------------------------------
RSA_PUBLIC = compose(
    PUBLIC_KEY,
    (
        row(A.MODULUS, R.REQUIRED_ON_CREATE | R.FORBIDDEN_ON_GENERATE),  # [1,4]
        row(A.MODULUS_BITS, R.FORBIDDEN_ON_CREATE | R.REQUIRED_ON_GENERATE),  # [2,3]
        row(A.PUBLIC_EXPONENT, R.REQUIRED_ON_CREATE),  # [1]
    ),
)

RSA_PRIVATE = compose(
    PRIVATE_KEY,
    (
        row(A.MODULUS, R.KEY_PART),  # [1,4,6]
        row(A.PUBLIC_EXPONENT, R.FORBIDDEN_ON_GENERATE | R.FORBIDDEN_ON_UNWRAP),  # [4,6]
        row(A.PRIVATE_EXPONENT, R.SECRET_PART),  # [1,4,6,7]
        row(A.PRIME_1, R.CRT_PART),  # [4,6,7]
        row(A.PRIME_2, R.CRT_PART),
        row(A.EXPONENT_1, R.CRT_PART),
        row(A.EXPONENT_2, R.CRT_PART),
        row(A.COEFFICIENT, R.CRT_PART),
    ),
)

# EC, EC_EDWARDS and EC_MONTGOMERY share their rows; the curve check differs (keycheck).
_EC_PUBLIC_ROWS = (
    row(A.EC_PARAMS, R.REQUIRED_ON_CREATE | R.REQUIRED_ON_GENERATE),  # [1,3]
    row(A.EC_POINT, R.REQUIRED_ON_CREATE | R.FORBIDDEN_ON_GENERATE),  # [1,4]
)
_EC_PRIVATE_ROWS = (
    row(A.EC_PARAMS, R.KEY_PART),  # [1,4,6]
    row(A.VALUE, R.SECRET_PART),  # [1,4,6,7]
)
EC_PUBLIC = compose(PUBLIC_KEY, _EC_PUBLIC_ROWS)
EC_PRIVATE = compose(PRIVATE_KEY, _EC_PRIVATE_ROWS)

_SECRET_ROWS = (
    row(A.VALUE, R.SECRET_PART),  # [1,4,6,7]
    row(A.VALUE_LEN, R.ON_GENERATE_ONLY),  # [2,3,6]
)
AES = compose(SECRET_KEY, _SECRET_ROWS)
GENERIC_SECRET = compose(SECRET_KEY, _SECRET_ROWS)
# Secret keys bound to one algorithm family share the generic rows; their values' lengths are
# checked by keycheck (ChaCha20: 32 bytes).
CHACHA20 = GENERIC_SECRET
HMAC_KEY_TYPES = (
    KeyType.SHA_1_HMAC, KeyType.SHA224_HMAC, KeyType.SHA256_HMAC, KeyType.SHA384_HMAC,
    KeyType.SHA512_HMAC, KeyType.SHA3_224_HMAC, KeyType.SHA3_256_HMAC, KeyType.SHA3_384_HMAC,
    KeyType.SHA3_512_HMAC, KeyType.HKDF,
)  # fmt: skip

KEY_TABLES: dict[int, dict[int, Table]] = {
    ObjectClass.PUBLIC_KEY: {
        KeyType.RSA: RSA_PUBLIC,
        KeyType.EC: EC_PUBLIC,
        KeyType.EC_EDWARDS: EC_PUBLIC,
        KeyType.EC_MONTGOMERY: EC_PUBLIC,
    },
    ObjectClass.PRIVATE_KEY: {
        KeyType.RSA: RSA_PRIVATE,
        KeyType.EC: EC_PRIVATE,
        KeyType.EC_EDWARDS: EC_PRIVATE,
        KeyType.EC_MONTGOMERY: EC_PRIVATE,
    },
    ObjectClass.SECRET_KEY: {
        KeyType.AES: AES,
        KeyType.CHACHA20: CHACHA20,
        **dict.fromkeys(HMAC_KEY_TYPES, GENERIC_SECRET),
        KeyType.GENERIC_SECRET: GENERIC_SECRET,
    },
}
