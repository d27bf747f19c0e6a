"""The one helper package of the test suite, imported one way: ``from support.x import ...``
(pyproject's pytest ``pythonpath`` puts tests/ on sys.path; a child process gets it explicitly).

constants       the PKCS#11 vocabulary, written from the spec independently of softhsm_py.constants
pkcs11          a cffi ABI-mode loader for any PKCS#11 module (``Module``), configs, ``CKRError``
templates       CK_ATTRIBUTE arrays: ``Template`` (to a module) and ``Query`` (back from it)
objects         object calls as functions of (module, session), data and secret-key templates
mechanisms      CK_MECHANISM values (``Mech`` and one builder per parameter struct), hash tables
token           ``Token``: a logged-in session with the mechanism tests' calls bound to it
keys            key material made by pyca/cryptography: curves, templates, import, public keys
hosts           real PKCS#11 hosts as subprocesses: a token made by the CLI, runners, skips
vectors         the one loader of known-answer files (tests/vectors/data, cryptography_vectors)
registry_calls  in-process calls to softhsm_py.mechanisms.registry (unit tests only)
credentials     the REST service's credentials: API keys, JWT signers and forged tokens, client CAs

Everything but registry_calls stays clear of softhsm_py, so that bench/ and the conformance tests
can drive any module (SoftHSMv2 included) and the tests remain an oracle.
"""
