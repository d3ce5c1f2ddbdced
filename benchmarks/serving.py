"""``make bench-serving``: encrypted-inference throughput and latency of the HTTP service, on loopback.

For 1 and 2 replicas and 1, 2, 4 and 8 concurrent clients (each with its own keys, each request one
row), measures rows per second, p50/p95 latency per request and the CPU seconds the evaluation workers
spent per row, then projects that cost to a 10-node cluster. Replicas are Ray Serve replicas
(``veil serve --ray``) when Ray is installed (``--backend ray``), otherwise evaluation workers of one
``veil serve`` (``--backend workers``). Writes ``benchmarks/results/serving-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

RESULTS = Path(__file__).parent / "results"
CLIENTS = (1, 2, 4, 8)
REPLICAS = (1, 2)
# The test suite's small iris classifier: 4 features, 4-bit accumulators, keys of 25 MB.
MODEL = {"max_epochs": 20, "random_state": 0, "module__n_accum_bits": 4}
MODEL.update({"module__n_hidden_neurons_multiplier": 1, "module__n_a_bits": 2})
CLUSTER_NODES, CORES_PER_NODE = 10, 16


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker_cpu_seconds() -> float:
    """CPU time of this process's descendants that are evaluation workers (spawned processes)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = (int(fields[1]), fields)
            except OSError:
                continue
    ours, changed = {os.getpid()}, True
    while changed:
        grown = ours | {pid for pid, (ppid, _) in parents.items() if ppid in ours}
        changed, ours = grown != ours, grown
    ticks = 0
    for pid in ours:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                ticks += int(parents[pid][1][11]) + int(parents[pid][1][12])  # utime + stime
        except (OSError, KeyError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


class _Workers:
    """One ``veil serve`` process with ``replicas`` evaluation workers."""

    def __init__(self, server_dir: Path, key_dir: Path, replicas: int, cached_keys: int):
        self.port = _free_port()
        command = [sys.executable, "-m", "veil.cli", "serve", str(server_dir), "--port", str(self.port)]
        command += ["--key-dir", str(key_dir), "--max-concurrent-runs", str(replicas)]
        command += ["--cached-keys", str(cached_keys), "--max-keys-per-client", "16"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


class _Ray:
    """The same service on ``replicas`` Ray Serve replicas of a local Ray cluster."""

    def __init__(self, server_dir: Path, key_dir: Path, replicas: int, cached_keys: int):
        import ray

        from veil.deployment import deploy_on_ray
        from veil.deployment._service import ServiceLimits

        self.port = _free_port()
        ray.init(num_cpus=replicas + 1, include_dashboard=False)
        limits = ServiceLimits(cached_keys=cached_keys, max_keys_per_client=16)
        deploy_on_ray(server_dir, key_dir, replicas, limits, port=self.port)

    def stop(self) -> None:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()


def _wait_ready(url: str):
    from veil.deployment import ServiceClient

    http = ServiceClient(url, timeout=600)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if http.health()["status"] == "ok":
                return http
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the service at {url} did not start within 300 s")


def _measure(http, owners, key_ids, X, n_clients: int, requests_per_client: int) -> dict:
    def client(who: int) -> list[float]:
        owner, latencies = owners[who], []
        for i in range(requests_per_client):
            message = owner.quantize_encrypt_serialize(X[(who * 17 + i) % len(X)][None])
            started = time.perf_counter()
            http.run(key_ids[who], message)
            latencies.append(time.perf_counter() - started)
        return latencies

    client(0)  # warm-up: keys expanded in a worker
    cpu_before, started = _worker_cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=n_clients) as pool:
        latencies = [value for values in pool.map(client, range(n_clients)) for value in values]
    wall, cpu = time.perf_counter() - started, _worker_cpu_seconds() - cpu_before
    rows = n_clients * requests_per_client
    return {
        "clients": n_clients,
        "rows": rows,
        "rows_per_second": rows / wall,
        "p50_seconds": float(np.percentile(latencies, 50)),
        "p95_seconds": float(np.percentile(latencies, 95)),
        "worker_cpu_seconds_per_row": cpu / rows if cpu > 0 else None,
    }


def _run(backend: str, requests_per_client: int) -> dict:
    from veil.deployment import FHEModelClient, FHEModelDev
    from veil.sklearn import NeuralNetClassifier

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    model = NeuralNetClassifier(**MODEL).fit(X, y)
    model.compile(X)
    cells = []
    with tempfile.TemporaryDirectory() as scratch:
        server_dir = Path(scratch) / "model"
        FHEModelDev(server_dir, model).save()
        owners = [FHEModelClient(server_dir) for _ in range(max(CLIENTS))]
        for owner in owners:
            owner.generate_private_and_evaluation_keys()
        for replicas in REPLICAS:
            key_dir = Path(scratch) / f"keys-{replicas}"
            service = (_Ray if backend == "ray" else _Workers)(server_dir, key_dir, replicas, max(CLIENTS))
            try:
                http = _wait_ready(f"http://127.0.0.1:{service.port}")
                key_ids = [
                    http.upload_evaluation_keys(owner.get_serialized_evaluation_keys()) for owner in owners
                ]
                for n_clients in CLIENTS:
                    cell = {
                        "replicas": replicas,
                        **_measure(http, owners, key_ids, X, n_clients, requests_per_client),
                    }
                    print(json.dumps(cell), flush=True)
                    cells.append(cell)
            finally:
                service.stop()
    return {
        "date": datetime.date.today().isoformat(),
        "backend": backend,
        "model": "iris classifier, " + ", ".join(f"{k}={v}" for k, v in MODEL.items()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work while measured)",
        "requests_per_client": requests_per_client,
        "load_average_1min_at_end": os.getloadavg()[0],
        "cells": cells,
    }


def _projection(report: dict) -> str:
    costs = [
        cell["worker_cpu_seconds_per_row"] for cell in report["cells"] if cell["worker_cpu_seconds_per_row"]
    ]
    if not costs:
        return "No worker CPU time was measured (Ray replicas on another node?): no projection."
    per_row = float(np.median(costs))
    cores = CLUSTER_NODES * CORES_PER_NODE
    return (
        f"Median worker CPU time per row: {per_row:.2f} s. Projected to {CLUSTER_NODES} nodes of "
        f"{CORES_PER_NODE} cores with one replica per core and the same cost per row: "
        f"{cores / per_row:.0f} rows/s ({cores} cores / {per_row:.2f} CPU-s per row), before network, "
        "key uploads (25 MB per client, once) and any contention; each replica also holds the expanded "
        "keys of the clients routed to it (about 110 MB each for this model)."
    )


def _markdown(report: dict) -> str:
    lines = [
        f"# Veil serving benchmark — {report['date']}",
        "",
        f"Backend: {report['backend']}. Model: {report['model']}. Machine: {report['machine']}.",
        f"Each client sends {report['requests_per_client']} one-row requests, one after another.",
        "",
        "| replicas | clients | rows | rows/s | p50 latency (s) | p95 latency (s) | worker CPU-s per row |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in report["cells"]:
        cpu = cell["worker_cpu_seconds_per_row"]
        cpu_text = "n/a" if cpu is None else f"{cpu:.2f}"
        lines.append(
            f"| {cell['replicas']} | {cell['clients']} | {cell['rows']} | {cell['rows_per_second']:.2f} | "
            f"{cell['p50_seconds']:.2f} | {cell['p95_seconds']:.2f} | {cpu_text} |"
        )
    context = (
        f"The machine's 1-minute load average at the end was {report['load_average_1min_at_end']:.1f} on "
        f"{os.cpu_count()} cores. The clients' encryption and decryption run on the same cores as the "
        "replicas: where replicas plus clients want more cores than are free, a second replica cannot add "
        "throughput, and the CPU seconds per row, not rows/s, is the number that carries to a cluster."
    )
    return "\n".join([*lines, "", context, "", _projection(report), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("ray", "workers", "auto"), default="auto")
    parser.add_argument("--requests-per-client", type=int, default=4)
    args = parser.parse_args()
    backend = args.backend
    if backend == "auto":
        try:
            import ray.serve  # noqa: F401
        except ImportError:
            backend = "workers"
        else:
            backend = "ray"
    report = _run(backend, args.requests_per_client)
    RESULTS.mkdir(exist_ok=True)
    stem = f"serving-{report['date']}-{backend}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{stem}.md").write_text(_markdown(report))
    print(_markdown(report))


if __name__ == "__main__":
    from veil._exit import exit_with_status

    exit_with_status(main, "bench-serving")
