"""CKK_EC_EDWARDS (PKCS#11 3.0 6.3.5-6: Ed25519, Ed448) and CKK_EC_MONTGOMERY (6.3.7-8: X25519,
X448): the rows and hooks of every key on a curve (``ec``), on the curves of their family.

CKA_EC_PARAMS names the curve by OID or by the PrintableString SoftHSMv2 writes ("edwards25519");
CKA_VALUE is the raw private key and CKA_EC_POINT the DER OCTET STRING of the raw public key.
"""

from __future__ import annotations

from softhsm_py.constants import KeyType
from softhsm_py.core.keytypes.ec import curve_key_specs
from softhsm_py.engine import curves

SPECS = (
    *curve_key_specs(KeyType.EC_EDWARDS, curves.EDWARDS),
    *curve_key_specs(KeyType.EC_MONTGOMERY, curves.MONTGOMERY),
)
