"""Starting and stopping `floodgate demo` for the client checks in this folder, and the
checks' shared reporting.

The demo listens on fixed ports (the gateway on 127.0.0.1:8080, the mock model API on
127.0.0.1:9000), so a check refuses to start while anything else holds them.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GATEWAY = ("127.0.0.1", 8080)
MOCK = ("127.0.0.1", 9000)
DEFAULT_BINARY = REPO / "target/debug/floodgate"


def port_open(addr: tuple[str, int]) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(addr) == 0


def start(binary: Path, config: Path) -> subprocess.Popen:
    """Starts `binary demo --config config` and waits until both ports answer."""
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build -p floodgate` first")
    for addr in (GATEWAY, MOCK):
        if port_open(addr):
            sys.exit(f"{addr[0]}:{addr[1]} is already in use: stop what listens there first")
    proc = subprocess.Popen(
        [str(binary), "demo", "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (port_open(GATEWAY) and port_open(MOCK)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"floodgate demo --config {config} did not start")
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stops the demo and waits until its ports are free for the next one."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while (port_open(GATEWAY) or port_open(MOCK)) and time.monotonic() < deadline:
        time.sleep(0.1)


class CheckFailed(Exception):
    """A check saw something other than what a client of the real API would."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def run(checks, client, results: list[bool]) -> None:
    """Runs each check with `client`, printing PASS, FAIL (a CheckFailed) or ERROR (any
    other exception, with its traceback) and its detail, and appends whether it passed."""
    for check in checks:
        try:
            detail = check(client)
            print(f"PASS {check.__name__}: {detail}")
            results.append(True)
        except Exception as e:  # noqa: BLE001 - any failure of a check is reported, not raised
            kind = "FAIL" if isinstance(e, CheckFailed) else "ERROR"
            print(f"{kind} {check.__name__}: {type(e).__name__}: {e}")
            if not isinstance(e, CheckFailed):
                traceback.print_exc(limit=3)
            results.append(False)


def main(doc: str, sdk: str, phases, make_client) -> int:
    """Runs each phase's checks, a `(config, checks)` pair, against `floodgate demo` with
    that config and a client from `make_client()`; `--floodgate PATH` picks the binary.
    Prints a line per check and the tally; returns the exit status (1 if any failed)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--floodgate", type=Path, default=DEFAULT_BINARY, help="the binary")
    args = parser.parse_args()
    print(f"{sdk}, {args.floodgate}")
    results: list[bool] = []
    for config, checks in phases:
        print(f"-- floodgate demo --config {config.relative_to(REPO)}")
        proc = start(args.floodgate, config)
        try:
            run(checks, make_client(), results)
        finally:
            stop(proc)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1
