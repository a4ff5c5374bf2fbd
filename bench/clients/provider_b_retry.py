"""Seed 002's own retry client against floodgate.

`request_with_retry` below is the function from provider-b's "Limits & Quotas" page,
verbatim. The driver after it runs it against `floodgate demo` (examples/provider-b.toml,
key sk-demo-basic) past txt2img's 3-a-minute limit, where it must read
`X-RateLimit-Type: minute` and an integer `Retry-After`, sleep and then succeed; then
against bench/clients/provider-b-daily.toml (3 a day), where the exhausted daily limit
must make it raise its "Daily rate limit reached" exception.

    pip install requests
    cargo build -p floodgate
    python3 bench/clients/provider_b_retry.py      # from the repository root; about 45 s

The driver watches the function's calls to `requests.post` and `time.sleep` to report
what it saw and how long it waited; it changes nothing the function does.
"""

# ---- from the provider's page, verbatim ---------------------------------------------
import requests
import time
import random

def request_with_retry(url, headers, payload=None, method="post",
                       max_retries=5, content_type="json"):
    for attempt in range(max_retries):
        if method == "post":
            if content_type == "json":
                resp = requests.post(url, headers=headers, json=payload)
            else:
                resp = requests.post(url, headers=headers, data=payload)
        else:
            resp = requests.get(url, headers=headers, params=payload)

        if resp.status_code != 429:
            resp.raise_for_status()
            return resp.json()

        limit_type = resp.headers.get("X-RateLimit-Type", "minute")
        retry_after = int(resp.headers.get("Retry-After", 5))

        if limit_type == "daily":
            raise Exception("Daily rate limit reached. Try again tomorrow.")

        wait = max(retry_after, (2 ** attempt) + random.uniform(0, 1))
        time.sleep(wait)

    raise Exception("Max retries exceeded")


# ---- driver ---------------------------------------------------------------------------

import argparse  # noqa: E402 - the seed's code above comes first, as published
import contextlib  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import demo  # noqa: E402
from demo import REPO  # noqa: E402

BASE = "http://127.0.0.1:8080/api/v1"
HEADERS = {"Authorization": "Bearer sk-demo-basic"}
PROMPT = {"prompt": "a lighthouse at dusk"}


class Watch:
    """What the function did during one call: every answer it got, every sleep."""

    def __init__(self) -> None:
        self.answers: list[requests.Response] = []
        self.sleeps: list[float] = []


@contextlib.contextmanager
def watched():
    watch = Watch()
    real_post, real_sleep = requests.post, time.sleep

    def post(*args, **kwargs):
        resp = real_post(*args, **kwargs)
        watch.answers.append(resp)
        h = resp.headers
        print(
            f"    {resp.status_code} X-RateLimit-Type={h.get('X-RateLimit-Type', '-')}"
            f" Retry-After={h.get('Retry-After', '-')}"
            f" X-RateLimit-Remaining={h.get('X-RateLimit-Remaining', '-')}"
            f" X-RateLimit-Daily-Remaining={h.get('X-RateLimit-Daily-Remaining', '-')}"
        )
        return resp

    def sleep(seconds: float) -> None:
        watch.sleeps.append(seconds)
        print(f"    sleeps {seconds:.1f}s")
        real_sleep(seconds)

    with mock.patch.object(requests, "post", post), mock.patch.object(time, "sleep", sleep):
        yield watch


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def expect(self, condition: bool, what: str) -> None:
        print(f"  {'PASS' if condition else 'FAIL'} {what}")
        if condition:
            self.passed += 1
        else:
            self.failed += 1


def minute_limit(checks: Checks) -> None:
    """Five txt2img requests: the 4th and 5th are over 3 a minute and must wait."""
    for n in range(1, 6):
        print(f"  call {n}: request_with_retry(POST /api/v1/txt2img)")
        started = time.monotonic()
        with watched() as watch:
            answer = request_with_retry(f"{BASE}/txt2img", HEADERS, PROMPT)
        took = time.monotonic() - started
        refused = [r for r in watch.answers if r.status_code == 429]
        checks.expect(bool(answer.get("data")), f"call {n} returned images after {took:.1f}s")
        if n <= 3:
            checks.expect(not refused and not watch.sleeps, f"call {n} needed no retry")
            continue
        checks.expect(len(refused) >= 1, f"call {n} was refused first (over 3 a minute)")
        for r in refused:
            retry_after = r.headers.get("Retry-After", "")
            checks.expect(
                r.headers.get("X-RateLimit-Type") == "minute", "X-RateLimit-Type: minute"
            )
            checks.expect(retry_after.isdigit(), f"Retry-After '{retry_after}' is an integer")
            checks.expect(
                r.json() == {"message": "Too Many Attempts."}, "the provider's 429 body"
            )
        checks.expect(
            len(watch.sleeps) == len(refused)
            and all(s >= int(r.headers["Retry-After"]) for s, r in zip(watch.sleeps, refused)),
            "it slept at least Retry-After before each retry",
        )


def form_payload(checks: Checks) -> None:
    """The function's other body shape: `data=payload`, form-encoded."""
    print("  request_with_retry(POST /api/v1/txt2embedding, content_type='form')")
    with watched():
        answer = request_with_retry(
            f"{BASE}/txt2embedding", HEADERS, {"text": "lighthouse"}, content_type="form"
        )
    checks.expect(isinstance(answer, dict), "a form-encoded body goes through")


def daily_limit(checks: Checks) -> None:
    """Three requests use the day's quota; the fourth must raise, without sleeping."""
    for n in range(1, 4):
        print(f"  call {n}: request_with_retry(POST /api/v1/txt2img)")
        with watched():
            request_with_retry(f"{BASE}/txt2img", HEADERS, PROMPT)
    print("  call 4: request_with_retry(POST /api/v1/txt2img)")
    raised = None
    with watched() as watch:
        try:
            request_with_retry(f"{BASE}/txt2img", HEADERS, PROMPT)
        except Exception as e:  # noqa: BLE001 - the seed raises a bare Exception
            raised = e
    print(f"    raised {raised!r}")
    checks.expect(
        raised is not None and str(raised) == "Daily rate limit reached. Try again tomorrow.",
        "it raised the daily-limit exception",
    )
    last = watch.answers[-1] if watch.answers else None
    checks.expect(
        last is not None and last.headers.get("X-RateLimit-Type") == "daily",
        "X-RateLimit-Type: daily",
    )
    checks.expect(
        last is not None and last.headers.get("X-RateLimit-Daily-Remaining") == "0",
        "X-RateLimit-Daily-Remaining: 0",
    )
    checks.expect(not watch.sleeps, "without sleeping first")


def main() -> int:
    parser = argparse.ArgumentParser(description="seed 002's retry client against floodgate")
    parser.add_argument("--floodgate", type=Path, default=demo.DEFAULT_BINARY)
    args = parser.parse_args()
    print(f"requests {requests.__version__}, {args.floodgate}")
    checks = Checks()
    phases = [
        (REPO / "examples/provider-b.toml", [minute_limit, form_payload]),
        (REPO / "bench/clients/provider-b-daily.toml", [daily_limit]),
    ]
    for config, runs in phases:
        print(f"-- floodgate demo --config {config.relative_to(REPO)}")
        proc = demo.start(args.floodgate, config)
        try:
            for run in runs:
                print(f"{run.__name__}:")
                run(checks)
        finally:
            demo.stop(proc)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
