"""Front end 2: a REST service speaking the Securosys TSB API over the partitions (tokens) the
PKCS#11 library serves. Only ``softhsm-py serve`` imports it; the PKCS#11 path never does.

Layout: ``app`` (factory), ``routers/`` (one module per TSB tag), ``models/`` (pydantic DTOs named
after the TSB's), ``keyspecs``/``signing``/``ciphers``/``wrapping`` (TSB names -> PKCS#11
mechanisms and templates, one row per algorithm), ``formats`` (wire <-> PKCS#11 byte formats),
``errors`` (the one place an exception becomes a TSB error body), ``binding`` (request ->
partition), ``config``/``server`` (the ``[rest]`` table and uvicorn).
"""
