"""floodgate against the official Anthropic Python SDK.

A manual compatibility check, not part of `cargo test`: it starts `floodgate demo` with
bench/clients/anthropic.toml (the mock's /v1/messages answers as Anthropic's Messages
API does) and checks, through the gateway, that the SDK's calls work, that each request
is settled to the tokens the answer reported (input and output, also when they come in
two stream events), and that a 429 reaches the SDK as a RateLimitError.

    pip install anthropic
    cargo build -p floodgate
    python3 bench/clients/anthropic_sdk.py            # from the repository root

Each check prints one line; the last line says how many passed and failed, and the exit
status is 1 if any failed.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request

import anthropic

import demo
from demo import REPO, CheckFailed, expect

BASE_URL = "http://127.0.0.1:8080"
KEY = "sk-demo-anthropic"
MODEL = "claude-mock"
MESSAGES = [{"role": "user", "content": "Say hello to the lighthouse keeper."}]


def tokens_settled() -> int:
    """The day's tokens the key has used, from its rate_limits endpoint."""
    request = urllib.request.Request(
        f"{BASE_URL}/api/v1/api_keys/rate_limits", headers={"x-api-key": KEY}
    )
    with urllib.request.urlopen(request) as answer:
        limits = json.load(answer)["data"]["models"][0]["limits"]
    return next(l["used"] for l in limits if l["unit"] == "tokens")


def until_settled(want: int) -> int:
    """Waits (a little) for the gateway to settle what the answers reported."""
    deadline = time.monotonic() + 3
    while (used := tokens_settled()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return used


def create(client: anthropic.Anthropic) -> str:
    before = tokens_settled()
    message = client.messages.create(model=MODEL, max_tokens=40, messages=MESSAGES)
    usage = message.usage
    expect(usage.input_tokens > 0 and usage.output_tokens > 0, f"usage {usage}")
    used = until_settled(before + usage.input_tokens + usage.output_tokens)
    expect(
        used == before + usage.input_tokens + usage.output_tokens,
        f"settled {used - before} tokens for {usage.input_tokens} in + {usage.output_tokens} out",
    )
    return f"{usage.input_tokens} in + {usage.output_tokens} out, settled {used - before}"


def stream(client: anthropic.Anthropic) -> str:
    before = tokens_settled()
    with client.messages.stream(model=MODEL, max_tokens=30, messages=MESSAGES) as s:
        text = "".join(s.text_stream)
        usage = s.get_final_message().usage
    expect(bool(text), "no text streamed")
    # message_start carries the input tokens, message_delta the output tokens
    want = before + usage.input_tokens + usage.output_tokens
    used = until_settled(want)
    expect(
        used == want,
        f"settled {used - before} tokens for {usage.input_tokens} in + {usage.output_tokens} out",
    )
    return f"{usage.input_tokens} in + {usage.output_tokens} out, settled {used - before}"


def rate_limit_error(client: anthropic.Anthropic) -> str:
    # 3 requests per 10 s: the two checks before used two of them
    client.messages.create(model=MODEL, max_tokens=4, messages=MESSAGES)
    try:
        client.messages.create(model=MODEL, max_tokens=4, messages=MESSAGES)
    except anthropic.RateLimitError as e:
        expect(e.status_code == 429, f"status {e.status_code}")
        retry_after = e.response.headers.get("retry-after")
        expect(retry_after is not None and int(retry_after) >= 1, f"retry-after {retry_after}")
        return f"RateLimitError, retry-after {retry_after}s: {e.message}"
    raise CheckFailed("the fourth request in the window was not refused")


def sdk_retry_waits(client: anthropic.Anthropic) -> str:
    # The window is spent: the SDK's own retry must read retry-after, wait, get through.
    start = time.monotonic()
    message = client.with_options(max_retries=3).messages.create(
        model=MODEL, max_tokens=4, messages=MESSAGES
    )
    waited = time.monotonic() - start
    expect(bool(message.content), "no content")
    expect(waited >= 1, f"succeeded after {waited:.1f}s without waiting")
    return f"succeeded after the SDK waited {waited:.1f}s"


CHECKS = [create, stream, rate_limit_error, sdk_retry_waits]


def main() -> int:
    return demo.main(
        __doc__,
        f"anthropic {anthropic.__version__}",
        [(REPO / "bench/clients/anthropic.toml", CHECKS)],
        lambda: anthropic.Anthropic(base_url=BASE_URL, api_key=KEY, max_retries=0),
    )


if __name__ == "__main__":
    sys.exit(main())
