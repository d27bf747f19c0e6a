"""softhsm-py: a software HSM that speaks PKCS#11."""

__version__ = "0.1.0"
