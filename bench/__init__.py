"""Benchmark softhsm-py against SoftHSMv2 through the PKCS#11 C ABI (issue 6).

``python3 -m bench`` loads both modules into one driver process with cffi (ABI mode), gives each
the same tokens and keys, and times the same calls on both in alternating rounds, with one and
with two threads. See ``python3 -m bench --help`` and ``bench/README.md``.
"""
