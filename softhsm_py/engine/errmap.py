"""The one place where cryptography's exceptions become PKCS#11 errors.

Engine functions run their cryptography calls inside ``mapped()``. Only the error *class* crosses
over: chained causes are dropped (``from None``) so no key bytes ride along in a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from softhsm_py import errors


@contextmanager
def mapped(value_error: type[errors.PKCS11Error] | None = None) -> Iterator[None]:
    """Translate cryptography errors; ``value_error`` names the CKR for a ValueError (bad input)."""
    try:
        yield
    except InvalidSignature:
        raise errors.SignatureInvalid() from None
    except (InvalidTag, InvalidUnwrap):
        raise errors.EncryptedDataInvalid() from None
    except UnsupportedAlgorithm:
        raise errors.MechanismInvalid() from None
    except ValueError:
        if value_error is None:
            raise
        raise value_error() from None
