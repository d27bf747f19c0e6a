"""pkcs11-tool on a token directory it may only read (issue 16, item 3): a read-only mount or
directory, as a shipped image or a mounted backup has. Listing, logging in and signing work, as
they do with SoftHSMv2; the token says CKF_WRITE_PROTECTED and a write gets
CKR_TOKEN_WRITE_PROTECTED. It used to fail at C_Initialize: SQLite's WAL could not make its
-wal and -shm files."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.hosts import assert_no_traceback, make_token, require
from support.readonly import readonly_view


@pytest.mark.slow
def test_pkcs11_tool_signs_on_a_read_only_store(tmp_path: Path) -> None:
    require("pkcs11-tool")
    token = make_token(tmp_path)
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "01", "--label", "ro-key")
    data = tmp_path / "data.bin"
    data.write_bytes(b"signed on a read-only store")
    with readonly_view(tmp_path / "tokens") as prefix:
        base = [*prefix, "pkcs11-tool", "--module", token.module, "--token-label", token.label]
        listed = token.run([*base, "-L"]).stdout.decode()
        assert "token initialized, PIN initialized, readonly" in listed, listed  # CKF_WRITE_PROTECTED
        sig = tmp_path / "sig.bin"
        token.run([*base, "--login", "--pin", token.pin, "--sign", "-m", "ECDSA-SHA256", "--id", "01",
                   "-i", data, "-o", sig])  # fmt: skip
        verified = token.run([*base, "--verify", "-m", "ECDSA-SHA256", "--id", "01", "-i", data,
                              "--signature-file", sig])  # fmt: skip
        assert "Signature is valid" in verified.stdout.decode()
        refused = token.run(
            [*base, "--login", "--pin", token.pin, "--keypairgen", "--key-type", "EC:prime256v1",
             "--label", "not-stored"],
            check=False,
        )  # fmt: skip
        assert refused.returncode != 0
        assert "CKR_TOKEN_WRITE_PROTECTED" in refused.stderr.decode(), refused.stderr.decode()
    assert "ro-key" in token.tool("--list-objects").stdout.decode()
    assert "not-stored" not in token.tool("--list-objects").stdout.decode()
    log = token.log_text()
    assert "is read-only" in log, log
    assert_no_traceback(token)
