"""The only package that imports pyca/cryptography: keys, ciphers, signatures, digests, sealing."""
