"""REST rows of the benchmark: ``synchronousSign`` (EC P-256, RSA-2048) through a real
``softhsm-py serve`` (TLS, keep-alive) at concurrency 1 and 16, beside the same server answering
``GET /v1/versionInfo`` (no partition work: the framework's floor) and the in-process PKCS#11
rate of the same signatures (python-pkcs11 on the same token, one thread).

    python3 -m bench.rest                    # ~1 minute; --seconds 3 --workers 2 --concurrency 1,16
    python3 -m bench.rest --json bench/results/rest.json

Clients are threads of this process, each with its own keep-alive connection; they share the
machine's cores with the server, so on 2 cores the client's own cost is part of every number.
Throughput = requests completed / wall time; p50 / p99 of per-request latency.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PIN = "87654321"
SO_PIN = "12345678"
LABEL = "bench"
PAYLOAD = base64.b64encode(b"x" * 64).decode()
SIGN_ROWS = (
    ("synchronousSign EC P-256 (SHA256_WITH_ECDSA)", "bench-ec", "SHA256_WITH_ECDSA"),
    ("synchronousSign RSA-2048 (SHA256_WITH_RSA)", "bench-rsa", "SHA256_WITH_RSA"),
)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "softhsm_py.cli", *args], env=env, check=True, capture_output=True)


class Service:
    def __init__(self, root: Path, workers: int) -> None:
        conf = root / "softhsm-py.toml"
        conf.write_text(
            f'token_dir = "tokens"\nkdf_cost = 10\n[rest]\n[[rest.partitions]]\nlabel = "{LABEL}"\n'
            'pin_env = "BENCH_REST_PIN"\n'
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTHSM_PY")}
        self.env.update(SOFTHSM_PY_CONF=str(conf), BENCH_REST_PIN=PIN)
        _cli(self.env, "init-token", "--label", LABEL, "--so-pin", SO_PIN, "--pin", PIN)
        self.port = _free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.cert = root / "tokens" / "rest-tls" / "server.crt"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "softhsm_py.cli",
                "serve",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait(self) -> None:
        import httpx

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("softhsm-py serve exited")
            if self.cert.exists():
                try:
                    if (
                        httpx.get(
                            f"{self.url}/v1/versionInfo",
                            verify=ssl.create_default_context(cafile=str(self.cert)),
                        ).status_code
                        == 200
                    ):
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise SystemExit("softhsm-py serve did not answer")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(
    service: Service, method: str, path: str, body: Any, concurrency: int, seconds: float
) -> dict[str, Any]:
    """``concurrency`` threads, each with its own keep-alive client, for ``seconds``."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def run(i: int) -> None:
        with httpx.Client(
            base_url=service.url, verify=ssl.create_default_context(cafile=str(service.cert)), timeout=60
        ) as c:
            c.request(method, path, json=body)  # warm the connection (TLS handshake)
            start.wait()
            mine = latencies[i]
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at[0]:
                    break
                r = c.request(method, path, json=body)
                mine.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 1e9
    start.wait()
    t_begin = time.perf_counter()
    stop_at[0] = t_begin + seconds
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_begin
    all_lat = sorted(x for xs in latencies for x in xs)
    return {
        "requests": len(all_lat),
        "errors": sum(errors),
        "per_s": len(all_lat) / wall,
        "p50_ms": percentile(all_lat, 50) * 1e3,
        "p99_ms": percentile(all_lat, 99) * 1e3,
    }


def pkcs11_rate(service: Service, seconds: float) -> dict[str, float]:
    """The same signatures in-process through the PKCS#11 library (python-pkcs11, one thread)."""
    code = f"""
import json, sys, time, pkcs11
from pkcs11 import Mechanism, ObjectClass
lib = pkcs11.lib(sys.argv[1])
out = {{}}
with lib.get_token(token_label={LABEL!r}).open(user_pin={PIN!r}) as s:
    for label, mech in (("bench-ec", Mechanism.ECDSA_SHA256), ("bench-rsa", Mechanism.SHA256_RSA_PKCS)):
        key = s.get_key(label=label, object_class=ObjectClass.PRIVATE_KEY)
        key.sign(b"x" * 64, mechanism=mech)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < {seconds}:
            key.sign(b"x" * 64, mechanism=mech)
            n += 1
        out[label] = n / (time.perf_counter() - t0)
print(json.dumps(out))
"""
    module = subprocess.run(
        [sys.executable, "-m", "softhsm_py.cli", "module-path"],
        env=service.env,
        capture_output=True,
        text=True,
    ).stdout.strip()
    proc = subprocess.run(
        [sys.executable, "-c", code, module], env=service.env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {}
    return dict(json.loads(proc.stdout))


def benchmark(seconds: float, workers: int, concurrencies: list[int], log: Any = print) -> dict[str, Any]:
    import httpx

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="softhsm-bench-rest-") as tmp:
        service = Service(Path(tmp), workers)
        try:
            service.wait()
            with httpx.Client(
                base_url=service.url, verify=ssl.create_default_context(cafile=str(service.cert))
            ) as c:
                attrs = {"decrypt": False, "sign": True, "unwrap": False}
                for body in (
                    {"label": "bench-ec", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7"},
                    {"label": "bench-rsa", "algorithm": "RSA", "keySize": 2048},
                ):
                    r = c.post("/v1/key", json={**body, "attributes": attrs})
                    if r.status_code != 201:
                        raise SystemExit(f"creating {body['label']}: {r.status_code} {r.text}")
            cases = [("versionInfo (no work: the framework's floor)", "GET", "/v1/versionInfo", None)]
            for name, label, algorithm in SIGN_ROWS:
                sign = {
                    "signRequest": {"payload": PAYLOAD, "signKeyName": label, "signatureAlgorithm": algorithm}
                }
                cases.append((name, "POST", "/v1/synchronousSign", sign))
            for name, method, path, body in cases:
                for conc in concurrencies:
                    log(f"{name}, concurrency {conc} ...")
                    rows.append(
                        {
                            "operation": name,
                            "concurrency": conc,
                            **load(service, method, path, body, conc, seconds),
                        }
                    )
            log("in-process PKCS#11 ...")
            p11 = pkcs11_rate(service, seconds)
        finally:
            service.stop()
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "workers": workers,
        "seconds_per_cell": seconds,
        "rows": rows,
        "pkcs11_in_process_per_s": {
            SIGN_ROWS[0][0]: p11.get("bench-ec"),
            SIGN_ROWS[1][0]: p11.get("bench-rsa"),
        },
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"REST service: {report['workers']} uvicorn worker(s), TLS, keep-alive; "
        f"{report['machine']['cpus']} CPUs shared by server and client threads",
        "",
        "| operation | concurrency | requests/s | p50 ms | p99 ms | errors | in-process PKCS#11 ops/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        p11 = report["pkcs11_in_process_per_s"].get(row["operation"])
        p11_text = f"{p11:,.0f}" if p11 else "-"
        lines.append(
            f"| {row['operation']} | {row['concurrency']} | {row['per_s']:,.0f} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {row['errors']} | {p11_text} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rest", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3.0, help="seconds per cell")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", default="1,16", help="comma-separated client concurrencies")
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "rest.json")
    args = p.parse_args(argv)
    concurrencies = [int(x) for x in args.concurrency.split(",") if x]
    report = benchmark(args.seconds, args.workers, concurrencies, log=lambda m: print(m, file=sys.stderr))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
