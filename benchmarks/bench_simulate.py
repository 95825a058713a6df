"""Benchmark: a simulated year on SQLite, and ``gongkai serve`` time to ready.

    .venv/bin/python benchmarks/bench_simulate.py                 # 1 year, 5 starts
    .venv/bin/python benchmarks/bench_simulate.py --years 2 --starts 10 --seed 3

1. ``gongkai simulate --from 2026-01-01 --to 2026-12-31`` (the real command, in a fresh
   temporary directory, SQLite): the wall time of the whole command and the simulation's
   own figure (without the interpreter start and the migration). Target: under 2 minutes.
2. ``gongkai serve`` on a free loopback port, from ``Popen`` until ``/healthz`` answers 200
   *and* the ready line (web server listening, scheduler running) is logged; then SIGINT,
   which must end the process with exit code 0. Measured on a new database (the migration
   included) and with ``--demo`` on the year just simulated. Target: under 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

GONGKAI = Path(sys.executable).parent / "gongkai"
SIMULATE_TARGET_SECONDS = 120.0
READY_TARGET_SECONDS = 10.0
GUARD_SECONDS = 120.0


def say(message: str) -> None:
    print(message, flush=True)


def environment(workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GONGKAI_")}
    env["GONGKAI_DATABASE_URL"] = f"sqlite:///{workdir / 'serve.db'}"
    env["GONGKAI_DATA_DIR"] = str(workdir / "data")
    env["NO_COLOR"] = "1"
    return env


def simulate_year(workdir: Path, *, first: int, years: int, seed: int) -> tuple[float, float, dict]:
    """Run the command; returns (command wall time, simulation wall time, summary)."""
    database = workdir / "data" / "gongkai-demo.db"
    command = [
        str(GONGKAI),
        "simulate",
        "--from",
        f"{first}-01-01",
        "--to",
        f"{first + years - 1}-12-31",
        "--seed",
        str(seed),
        "--db",
        str(database),
        "--json",
    ]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=workdir, env=environment(workdir), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"gongkai simulate failed ({result.returncode}):\n{result.stderr}")
    summary = json.loads(result.stdout)
    return elapsed, float(summary["wall_seconds"]), summary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def time_to_ready(workdir: Path, *args: str) -> float:
    """Seconds from Popen until /healthz answers and the ready line is logged; then SIGINT."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(GONGKAI), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=workdir,
            env=environment(workdir),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    ready: float | None = None
    try:
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while time.perf_counter() - started < GUARD_SECONDS and process.poll() is None:
                if "gongkai ready" in log.read_text(errors="replace") and _healthy(client, port):
                    ready = time.perf_counter() - started
                    break
                time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        code = process.wait(timeout=GUARD_SECONDS)
    text = log.read_text(errors="replace")
    if ready is None:
        raise SystemExit(f"gongkai serve {' '.join(args)} was not ready:\n{text}")
    if code != 0 or "Traceback" in text:
        raise SystemExit(f"gongkai serve did not stop cleanly (exit {code}):\n{text}")
    return ready


def _healthy(client: httpx.Client, port: int) -> bool:
    try:
        return client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def spread(values: list[float]) -> str:
    return (
        f"min {min(values):.2f} s, median {statistics.median(values):.2f} s, "
        f"max {max(values):.2f} s (n={len(values)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-year", type=int, default=2026, help="first simulated year")
    parser.add_argument("--years", type=int, default=1, help="simulated years")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--starts", type=int, default=5, help="serve starts per case")
    options = parser.parse_args(argv)
    say(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite")
    workdir = Path(tempfile.mkdtemp(prefix="gongkai-bench-simulate-"))
    try:
        command, inner, summary = simulate_year(
            workdir, first=options.from_year, years=options.years, seed=options.seed
        )
        span = f"{options.from_year}-01-01 … {options.from_year + options.years - 1}-12-31"
        say(f"simulated {span} (seed {options.seed}) into SQLite:")
        say(
            f"  command wall time {command:.1f} s; simulation alone {inner:.1f} s "
            f"(target < {SIMULATE_TARGET_SECONDS:.0f} s per year: "
            f"{'ok' if inner / options.years < SIMULATE_TARGET_SECONDS else 'MISSED'})"
        )
        say(f"  events {sum(summary['events'].values())} {summary['events']}")
        say(f"  tasks {summary['tasks']}, timeliness {summary['timeliness']}")
        say(
            f"  sweeps {summary['sweeps']}, outbox rows {summary['outbox_rows']}, "
            f"messages {summary['messages']}, actions {summary['actions']}"
        )

        fresh = []
        for _ in range(options.starts):
            for suffix in ("", "-wal", "-shm"):
                (workdir / f"serve.db{suffix}").unlink(missing_ok=True)
            fresh.append(time_to_ready(workdir))
        say("gongkai serve, time to ready (HTTP + scheduler), new database each start:")
        say(
            f"  {spread(fresh)} (target < {READY_TARGET_SECONDS:.0f} s: "
            f"{'ok' if max(fresh) < READY_TARGET_SECONDS else 'MISSED'})"
        )
        demo = [time_to_ready(workdir, "--demo") for _ in range(options.starts)]
        say("gongkai serve --demo, time to ready, on the simulated year's database:")
        say(
            f"  {spread(demo)} (target < {READY_TARGET_SECONDS:.0f} s: "
            f"{'ok' if max(demo) < READY_TARGET_SECONDS else 'MISSED'})"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
