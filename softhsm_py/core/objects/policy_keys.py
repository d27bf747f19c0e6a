"""Key class tables: PKCS#11 3.0 sections 4.7-4.10 (common key, public, private, secret), with
the encapsulation attributes PKCS#11 3.2 adds to every public and private key.
Footnote numbers in brackets, see ``policy``. Each key type adds its own rows in its family
module of ``core.keytypes`` (RSA 6.1.2-3, EC 6.3.3-8, secret keys 6.7-6.8).

Usage defaults follow SoftHSMv2, because hosts rely on them (CLIENTS.md): Java sends an empty
private-key template and only CLASS + VALUE_LEN for AES, then expects the key to work. CKA_DERIVE
defaults FALSE, as the spec says (4.7) and SoftHSMv2 does; a secret key's CKA_SENSITIVE defaults
FALSE, as SoftHSMv2's does (its value stays unreadable all the same while CKA_EXTRACTABLE is FALSE,
the default). A private key's CKA_SENSITIVE defaults TRUE (the spec leaves it to the token; a
private key is what a token exists to keep).
"""

from __future__ import annotations

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core.objects.policy import STORAGE, R, row

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
    row(A.TRUSTED, M | R.SO_ONLY, False),  # [10] the SO may set it on an existing key too
    row(A.WRAP_TEMPLATE, R.NONE, {}),
    row(A.PUBLIC_KEY_INFO),  # computed from the key when absent or empty
    # 3.2 [8,9]: only a KEM key type (ML-KEM) makes TRUE its default
    row(A.ENCAPSULATE, M, False),
    row(A.ENCAPSULATE_TEMPLATE, R.NONE, {}),
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
    row(A.EXTRACTABLE, M | R.ONLY_TO_FALSE, False),  # [8,12]
    row(A.ALWAYS_SENSITIVE, T),  # [2,4,6]
    row(A.NEVER_EXTRACTABLE, T),  # [2,4,6]
    row(A.WRAP_WITH_TRUSTED, M | R.ONLY_TO_TRUE, False),  # [11]
    row(A.UNWRAP_TEMPLATE, R.NONE, {}),
    row(A.DERIVE_TEMPLATE, R.NONE, {}),  # 3.0 has it on secret keys; an ECDH base key needs it too
    row(A.ALWAYS_AUTHENTICATE, R.NONE, False),
    row(A.PUBLIC_KEY_INFO),  # computed from the private key when absent or empty
    # 3.2 [8,9]: only a KEM key type (ML-KEM) makes TRUE its default
    row(A.DECAPSULATE, M, False),
    row(A.DECAPSULATE_TEMPLATE, R.NONE, {}),
    *_PASSWORD_ROWS,
    row(V.ATTESTATION, T),  # the partition's attestation key (core.attestation): no other use
    row(V.TIMESTAMP, T),  # the partition's SKA timestamp key (core.ska.timestamps): no other use
    # Smart Key Attributes (core.ska): set when the key is made, changed only by the core's block,
    # unblock and modify paths with approvals; never through the attribute rules. A key with a
    # policy is never extractable (factory.build).
    row(V.SKA_POLICY, T),
    row(V.SKA_BLOCKED, T),
)

# --- 4.10 secret keys: every usage but derivation defaults TRUE, as SoftHSMv2 has it --------------
SECRET_KEY = (
    *KEY,
    row(A.PRIVATE, R.CHANGE_ON_COPY, True),
    row(A.SENSITIVE, M | R.ONLY_TO_TRUE, False),  # [8,11]
    row(A.ENCRYPT, M, True),  # [8]
    row(A.DECRYPT, M, True),  # [8]
    row(A.SIGN, M, True),  # [8]
    row(A.VERIFY, M, True),  # [8]
    row(A.WRAP, M, True),  # [8]
    row(A.UNWRAP, M, True),  # [8]
    row(A.EXTRACTABLE, M | R.ONLY_TO_FALSE, False),  # [8,12]
    row(A.ALWAYS_SENSITIVE, T),  # [2,4,6]
    row(A.NEVER_EXTRACTABLE, T),  # [2,4,6]
    row(A.CHECK_VALUE),  # computed; a given value must match, an empty one means "none"
    row(A.WRAP_WITH_TRUSTED, M | R.ONLY_TO_TRUE, False),  # [11]
    row(A.TRUSTED, M | R.SO_ONLY, False),  # [10] the SO may set it on an existing key too
    row(A.WRAP_TEMPLATE, R.NONE, {}),
    row(A.UNWRAP_TEMPLATE, R.NONE, {}),
    row(A.DERIVE_TEMPLATE, R.NONE, {}),
    # Not in the 3.0 secret-key table, but pkcs11-tool and libp11 read it on every key they use:
    # answering FALSE beats a CKR_ATTRIBUTE_TYPE_INVALID warning on each operation.
    row(A.ALWAYS_AUTHENTICATE, R.NONE, False),
    *_PASSWORD_ROWS,
)
