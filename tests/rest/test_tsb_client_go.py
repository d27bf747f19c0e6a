"""tsb-client-go's own test suite (Securosys' official Go client, v1.1.0) against a real
``softhsm-py serve`` over TLS on loopback: the acceptance test of the REST front end.

The client is copied out of ``../shared/clients/tsb-client-go`` (read-only) and built offline by
Debian's Go 1.19. Its offline unit tests run unchanged. Its live tests run with ``TSB_URL`` set;
Go 1.19 has no ``-skip``, so each live test runs with a ``-run`` pattern naming the subtests whose
algorithms softhsm-py offers. ``EXCLUDED`` lists the others with the reason (README: "tsb-client-go").
Go verifies the server's self-signed certificate through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Server

GO = Path("/usr/lib/go-1.19/bin/go")
REPO = Path(__file__).resolve().parents[2]
CLIENT_SRC = Path(os.environ.get("TSB_CLIENT_GO_SRC", REPO.parent / "shared" / "clients" / "tsb-client-go"))

NOT_IN_ENGINE = "the engine has no {} mechanism yet (the lead's mechanisms issue)"
NOT_IN_PYCA = "pyca/cryptography does not implement {}"
PQC_NOT_IN_PYCA = "pyca/cryptography does not implement {} (README: Post-quantum keys)"
RFC3394 = (
    "RFC 3394 AES key wrap (no padding) needs a multiple of 8 bytes; a PKCS#8 {} key is not one "
    "(the TSB's padded AES_WRAP_PAD_* works)"
)

#: (test, subtest path) -> why it is not run here
EXCLUDED: dict[tuple[str, str], str] = {
    ("TestCreateAndDeleteKeyWithTSB", "BLS"): NOT_IN_PYCA.format("BLS12-381"),
    ("TestCreateSignVerifyAllAlgorithmsAndDeleteKeyWithTSB", "EC/SHA256_WITH_ECDSA_DETERMINISTIC"): (
        "RFC 6979 deterministic ECDSA needs OpenSSL 3.2 (Debian 12 has 3.0) and a PKCS#11 mechanism"
    ),
    **{
        (
            "TestCreateSignVerifyAllAlgorithmsAndDeleteKeyWithTSB",
            f"EC/KECCAK{n}_WITH_ECDSA",
        ): NOT_IN_PYCA.format("Keccak (pre-standard SHA-3)")
        for n in (224, 256, 384, 512)
    },
    ("TestCreateSignVerifyAllAlgorithmsAndDeleteKeyWithTSB", "BLS"): NOT_IN_PYCA.format("BLS signatures"),
    ("TestCreateEncryptDecryptAndDeleteKeysWithTSB", "ChaCha20/CHACHA20"): NOT_IN_ENGINE.format(
        "CKM_CHACHA20 (the plain stream cipher; CHACHA20_AEAD runs)"
    ),
    ("TestCreateWrapUnwrapAndDeleteKeysWithTSB", "AES_WRAP_BLS"): NOT_IN_PYCA.format("BLS"),
    ("TestCreateWrapUnwrapAndDeleteKeysWithTSB", "AES_WRAP_PAD_BLS"): NOT_IN_PYCA.format("BLS"),
    ("TestCreateWrapUnwrapAndDeleteKeysWithTSB", "AES_WRAP_EC"): RFC3394.format("EC P-256 (138-byte)"),
    ("TestCreateWrapUnwrapAndDeleteKeysWithTSB", "AES_WRAP_RSA"): RFC3394.format("RSA-2048 (length varies)"),
    ("TestCreateWrapUnwrapAndDeleteKeysWithTSB", "AES_WRAP_DSA"): RFC3394.format("DSA-2048 (length varies)"),
    **{
        (test, name): PQC_NOT_IN_PYCA.format(name)
        for test in (
            "TestCreateAndDeletePostQuantumKeysWithTSB",
            "TestCreateSignVerifyPostQuantumKeysWithTSB",
        )
        for name in (
            *(f"SLH-DSA-{h}-{n}{v}" for h in ("SHA2", "SHAKE") for n in (128, 192, 256) for v in "sf"),
            "LMS",
            "XMSS-SHA256_10_256",
            "XMSS-SHAKE256_10_256",
        )
    },
    ("TestCreateAndDeletePostQuantumKeysWithTSB", "ML-KEM-512"): PQC_NOT_IN_PYCA.format("ML-KEM-512"),
}

#: live test -> the subtest levels it runs (each a list of exact names; None: all)
LIVE: dict[str, list[list[str]] | None] = {
    "TestNoAuthWithTSB": None,
    "TestTSBClientFromEnvWithTSB": None,
    "TestCreateAndDeleteKeyWithTSB": [["EC", "ED", "RSA", "DSA", "AES", "ChaCha20", "Camellia", "TDEA"]],
    "TestCreateSignVerifyAllAlgorithmsAndDeleteKeyWithTSB": [
        ["EC", "ED", "RSA", "DSA"],
        [
            # EC (signatureType RAW)
            "NONE_WITH_ECDSA",
            "SHA1_WITH_ECDSA",
            "SHA224_WITH_ECDSA",
            "SHA256_WITH_ECDSA",
            "DOUBLE_SHA256_WITH_ECDSA",
            "SHA384_WITH_ECDSA",
            "SHA512_WITH_ECDSA",
            "SHA3224_WITH_ECDSA",
            "SHA3256_WITH_ECDSA",
            "SHA3384_WITH_ECDSA",
            "SHA3512_WITH_ECDSA",
            # ED
            "EDDSA",
            # RSA: all 21
            "SHA224_WITH_RSA_PSS",
            "SHA256_WITH_RSA_PSS",
            "SHA384_WITH_RSA_PSS",
            "SHA512_WITH_RSA_PSS",
            "NONE_WITH_RSA",
            "NONE_WITH_RSA_PSS",
            "SHA224_WITH_RSA",
            "SHA256_WITH_RSA",
            "SHA384_WITH_RSA",
            "SHA512_WITH_RSA",
            "NONESHA224_WITH_RSA",
            "NONESHA256_WITH_RSA",
            "NONESHA384_WITH_RSA",
            "NONESHA512_WITH_RSA",
            "NONESHA224_WITH_RSA_PSS",
            "NONESHA256_WITH_RSA_PSS",
            "NONESHA384_WITH_RSA_PSS",
            "NONESHA512_WITH_RSA_PSS",
            "SHA1_WITH_RSA",
            "NONESHA1_WITH_RSA",
            "SHA1_WITH_RSA_PSS",
            # DSA
            "NONE_WITH_DSA",
            "SHA224_WITH_DSA",
            "SHA256_WITH_DSA",
            "SHA384_WITH_DSA",
            "SHA512_WITH_DSA",
            "SHA1_WITH_DSA",
        ],
    ],
    "TestCreateEncryptDecryptAndDeleteKeysWithTSB": [
        ["RSA", "AES", "ChaCha20", "Camellia", "TDEA"],
        [
            "RSA_PADDING_OAEP_WITH_SHA512",
            "RSA",
            "RSA_PADDING_OAEP_WITH_SHA224",
            "RSA_PADDING_OAEP_WITH_SHA256",
            "RSA_PADDING_OAEP_WITH_SHA1",
            "RSA_PADDING_OAEP",
            "RSA_PADDING_OAEP_WITH_SHA384",
            "RSA_PADDING_PKCS",
            "RSA_NO_PADDING",
            "AES_GCM",
            "AES_CTR",
            "AES_ECB",
            "AES_CBC_NO_PADDING",
            "AES",
            "CHACHA20_AEAD",
            "CAMELLIA",
            "CAMELLIA_CBC_NO_PADDING",
            "CAMELLIA_ECB",
            "TDEA_CBC",
            "TDEA_ECB",
            "TDEA_CBC_NO_PADDING",
        ],
    ],
    "TestCreateAndDeletePostQuantumKeysWithTSB": [
        ["ML-DSA-44", "ML-DSA-65", "ML-DSA-87", "ML-KEM-768", "ML-KEM-1024"],
    ],
    "TestCreateSignVerifyPostQuantumKeysWithTSB": [["ML-DSA-44", "ML-DSA-65", "ML-DSA-87"]],
    "TestCreateWrapUnwrapAndDeleteKeysWithTSB": [
        [
            "AES_WRAP",
            "AES_WRAP_ED",
            "AES_WRAP_PAD",
            "AES_WRAP_PAD_EC",
            "AES_WRAP_PAD_ED",
            "AES_WRAP_PAD_RSA",
            "AES_WRAP_PAD_DSA",
            "RSA_WRAP_PAD",
            "RSA_WRAP_OAEP",
        ],
    ],
}


def run_pattern(test: str, levels: list[list[str]] | None) -> str:
    parts = [f"^{test}$"]
    for names in levels or []:
        parts.append("^(" + "|".join(re.escape(n) for n in names) + ")$")
    return "/".join(parts)


def go_available() -> bool:
    return GO.exists() and CLIENT_SRC.is_dir()


@pytest.fixture(scope="module")
def client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not go_available():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {GO} (scripts/setup-rest.sh) and {CLIENT_SRC}")
        pytest.skip(f"needs {GO} (scripts/setup-rest.sh) and {CLIENT_SRC}")
    work = tmp_path_factory.mktemp("tsb-client-go") / "src"
    shutil.copytree(CLIENT_SRC, work)
    for path in [work, *work.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return work


def go_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSB_")}
    env.update(
        PATH=f"{GO.parent}:{env.get('PATH', '')}",
        GOPROXY="off",
        GOFLAGS="-mod=mod",
        GOTOOLCHAIN="local",
        GOCACHE=str(work.parent / "gocache"),
        GOPATH=str(work.parent / "gopath"),
        GO111MODULE="on",
    )
    return env


def go(work: Path, env: dict[str, str], *args: str, timeout: int = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GO), *args], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_offline_unit_tests(client_dir: Path) -> None:
    env = go_env(client_dir)
    vet = go(client_dir, env, "vet", "./...")
    assert vet.returncode == 0, vet.stdout + vet.stderr
    unit = go(client_dir, env, "test", "-count=1", "-v", "./...")
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "--- PASS: TestNewTSBClientTrimsTrailingSlash" in unit.stdout
    # without TSB_URL every live test skips itself
    assert "--- SKIP: TestCreateAndDeleteKeyWithTSB" in unit.stdout


@pytest.mark.parametrize("test", sorted(LIVE))
def test_live_against_softhsm_py(client_dir: Path, rest_server: Server, test: str) -> None:
    env = go_env(client_dir)
    env["TSB_URL"] = rest_server.url
    env["SSL_CERT_FILE"] = str(rest_server.cert)
    pattern = run_pattern(test, LIVE[test])
    proc = go(client_dir, env, "test", "-count=1", "-v", "-run", pattern, ".")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    passed = re.findall(r"--- PASS: (\S+)", out)
    assert any(p == test for p in passed), out
    assert "--- FAIL" not in out
    levels = LIVE[test]
    if levels:
        # every named leaf subtest ran and passed (none silently absent)
        ran = {p.split("/", 1)[1] for p in passed if "/" in p}
        deepest = {r.rsplit("/", 1)[-1] for r in ran}
        missing = [n for n in levels[-1] if n not in deepest]
        assert not missing, f"subtests not run: {missing}\n{out}"
    assert "--- SKIP" not in out or test == "TestTSBClientFromEnvWithTSB", out


def test_excluded_list_names_real_subtests() -> None:
    """The exclusion list only names tests and subtests the client has (read from its source)."""
    if not CLIENT_SRC.is_dir():
        pytest.skip(f"needs {CLIENT_SRC}")
    source = "\n".join(p.read_text() for p in CLIENT_SRC.glob("*.go"))
    for test, sub in EXCLUDED:
        assert f"func {test}(" in source
        leaf = sub.rsplit("/", 1)[-1]
        if leaf:
            assert re.search(rf'"{re.escape(leaf)}"|= "{re.escape(leaf)}"|{re.escape(leaf)}', source), leaf


def test_readme_lists_every_excluded_subtest() -> None:
    """The README's "tsb-client-go" table names every test or subtest left out here."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("**tsb-client-go.**") :]
    section = section[: section.index("\n## ")]
    for test, sub in EXCLUDED:
        leaf = sub.rsplit("/", 1)[-1] if sub else test
        assert leaf in section, (test, sub)
