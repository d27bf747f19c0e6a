"""The one place where cryptography's exceptions become PKCS#11 errors.

Engine functions run their cryptography calls inside ``mapped()``. Only the error *class* crosses
over: chained causes are dropped (``from None``) so no key bytes ride along in a traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap
from cryptography.utils import CryptographyDeprecationWarning

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


_LEGACY_WARNING = r"(DSA|Diffie-Hellman over finite fields \(FFDH\)) is deprecated"


def quiet_legacy_warnings() -> None:
    """cryptography warns that DSA and finite-field DH are deprecated whenever it reads such a key
    or class. The token offers them on purpose (PKCS#11 hosts ask for them) and a host can do
    nothing about it, so that warning, and only that one, is ignored: by a filter, put first
    whenever it is not there (a host's ``catch_warnings`` may have dropped it). Not
    ``catch_warnings`` around each call: that would race with the host's threads."""
    first = warnings.filters[0] if warnings.filters else None
    ours = first is not None and first[2] is CryptographyDeprecationWarning and first[0] == "ignore"
    if not ours or getattr(first[1], "pattern", None) != _LEGACY_WARNING:  # type: ignore[index]
        warnings.filterwarnings("ignore", message=_LEGACY_WARNING, category=CryptographyDeprecationWarning)
