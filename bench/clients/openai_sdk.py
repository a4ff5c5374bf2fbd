"""floodgate against the official OpenAI Python SDK.

A manual compatibility check, not part of `cargo test`: it starts `floodgate demo` with
examples/provider-c.toml (the OpenAI-style config), calls every endpoint the SDK knows
through the gateway, then restarts the demo with bench/clients/openai-tiny.toml, whose
2-requests-per-10-seconds limit makes a 429 easy to reach.

    pip install openai requests
    cargo build -p floodgate
    python3 bench/clients/openai_sdk.py            # from the repository root

Each check prints one line; the last line says how many passed and failed, and the exit
status is 1 if any failed.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import sys
import time
import wave

import openai

import demo
from demo import REPO, CheckFailed, expect

BASE_URL = "http://127.0.0.1:8080/api/v1"
KEY = "sk-demo-standard"

CHAT_MODEL = "llama-3.2-3b"
EMBEDDING_MODEL = "text-embedding-bge-m3"
IMAGE_MODEL = "flux-dev"
TTS_MODEL = "tts-kokoro"
ASR_MODEL = "whisper-large-v3"
MESSAGES = [{"role": "user", "content": "Say hello to the lighthouse keeper."}]

RATE_HEADERS = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
]


def wav_bytes(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A short silent mono WAV file, as a client would upload."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack("<h", 0) * int(seconds * rate))
    return out.getvalue()


def png_bytes() -> bytes:
    """A tiny file with a PNG signature; the mock does not decode images."""
    return b"\x89PNG\r\n\x1a\n" + bytes(256)


# --- checks against examples/provider-c.toml -------------------------------------------


def chat_plain(client: openai.OpenAI) -> str:
    resp = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, max_tokens=16)
    text = resp.choices[0].message.content
    expect(bool(text), "empty completion")
    expect(resp.usage is not None and resp.usage.total_tokens > 0, f"usage: {resp.usage}")
    return f"{len(text)} chars, usage {resp.usage.prompt_tokens}+{resp.usage.completion_tokens}"


def chat_stream(client: openai.OpenAI) -> str:
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, chunks = [], None, 0
    for chunk in stream:
        chunks += 1
        for choice in chunk.choices:
            if choice.delta and choice.delta.content:
                pieces.append(choice.delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    expect(chunks > 1, f"{chunks} chunk(s)")
    expect(bool("".join(pieces)), "no content in the stream")
    expect(usage is not None and usage.completion_tokens > 0, f"usage: {usage}")
    return f"{chunks} chunks, usage {usage.prompt_tokens}+{usage.completion_tokens}"


def embeddings_default(client: openai.OpenAI) -> str:
    # The SDK asks for base64 unless told otherwise and decodes it itself.
    raw = client.embeddings.with_raw_response.create(
        model=EMBEDDING_MODEL, input=["first", "second"]
    )
    wire = json.loads(raw.http_response.content)
    expect(isinstance(wire["data"][0]["embedding"], str), "the answer is not base64")
    resp = raw.parse()
    expect(len(resp.data) == 2, f"{len(resp.data)} vectors")
    vector = resp.data[0].embedding
    expect(isinstance(vector, list) and vector, f"embedding: {vector!r:.80}")
    expect(all(isinstance(x, float) and -1 <= x < 1 for x in vector), "bad component")
    expect(resp.usage.prompt_tokens > 0, f"usage: {resp.usage}")
    return f"2 vectors of {len(vector)} (base64 on the wire)"


def embeddings_float(client: openai.OpenAI) -> str:
    resp = client.embeddings.create(
        model=EMBEDDING_MODEL, input="one", encoding_format="float", dimensions=16
    )
    vector = resp.data[0].embedding
    expect(len(vector) == 16, f"{len(vector)} dimensions")
    return "1 vector of 16 floats"


def images_generate(client: openai.OpenAI) -> str:
    resp = client.images.generate(model=IMAGE_MODEL, prompt="a lighthouse at dusk", n=2)
    expect(resp.data is not None and len(resp.data) == 2, f"data: {resp.data}")
    expect(all(image.url for image in resp.data), "an image without a URL")
    return "2 image URLs"


def images_edit(client: openai.OpenAI) -> str:
    # Multipart, with the image count in a form field: it must cost 2 images.
    raw = client.images.with_raw_response.edit(
        model=IMAGE_MODEL, image=("in.png", png_bytes(), "image/png"), prompt="add a boat", n=2
    )
    resp = raw.parse()
    expect(resp.data is not None and len(resp.data) == 2, f"data: {resp.data}")
    return f"2 image URLs (multipart), remaining-requests {raw.headers.get('x-ratelimit-remaining-requests')}"


def audio_speech(client: openai.OpenAI) -> str:
    resp = client.audio.speech.create(model=TTS_MODEL, voice="alloy", input="Hello, keeper.")
    audio = resp.content
    expect(resp.response.headers.get("content-type", "").startswith("audio/"), "not audio")
    expect(audio[:3] == b"ID3", f"not an MP3: {audio[:8]!r}")
    return f"{len(audio)} bytes of {resp.response.headers['content-type']}"


def audio_speech_streamed(client: openai.OpenAI) -> str:
    with client.audio.speech.with_streaming_response.create(
        model=TTS_MODEL, voice="alloy", input="Hello again.", response_format="wav"
    ) as resp:
        remaining = resp.headers.get("x-ratelimit-remaining-requests")
        audio = b"".join(resp.iter_bytes())
    expect(audio[:4] == b"RIFF", f"not a WAV: {audio[:8]!r}")
    return f"{len(audio)} bytes of WAV, remaining-requests {remaining}"


def audio_transcription(client: openai.OpenAI) -> str:
    audio = wav_bytes()
    resp = client.audio.transcriptions.create(
        model=ASR_MODEL, file=("speech.wav", audio, "audio/wav")
    )
    expect(bool(resp.text), f"text: {resp.text!r}")
    expect(str(len(audio)) in resp.text, f"the upstream saw another file: {resp.text!r}")
    return repr(resp.text)


def audio_transcription_text(client: openai.OpenAI) -> str:
    # response_format and language after the file part: the model field still counts.
    text = client.audio.transcriptions.create(
        file=("speech.wav", wav_bytes(), "audio/wav"),
        model=ASR_MODEL,
        response_format="text",
        language="en",
    )
    expect(isinstance(text, str) and text and not text.lstrip().startswith("{"), repr(text))
    return repr(text.strip())


def transcription_too_large(client: openai.OpenAI) -> str:
    # Over the route's 25 MB: refused from Content-Length while the SDK is still sending.
    try:
        client.with_options(max_retries=0).audio.transcriptions.create(
            model=ASR_MODEL, file=("long.wav", bytes(26 * 1024 * 1024), "audio/wav")
        )
    except openai.APIStatusError as e:
        expect(e.status_code == 413, f"status {e.status_code}")
        expect("25 MB" in e.message, e.message)
        return f"{type(e).__name__} {e.status_code}: {e.message}"
    raise CheckFailed("no error")


def raw_headers(client: openai.OpenAI) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL, messages=MESSAGES, max_tokens=8
    )
    missing = [h for h in RATE_HEADERS if h not in raw.headers]
    expect(not missing, f"missing {missing}")
    limit = int(raw.headers["x-ratelimit-limit-requests"])
    remaining = int(raw.headers["x-ratelimit-remaining-requests"])
    reset = int(raw.headers["x-ratelimit-reset-requests"])
    expect(limit == 500 and 0 <= remaining < limit, f"{limit=} {remaining=}")
    expect(abs(reset - time.time()) < 120, f"reset-requests {reset} is not a Unix time")
    completion = raw.parse()
    expect(bool(completion.choices), "no choices")
    return ", ".join(f"{h.removeprefix('x-ratelimit-')}={raw.headers[h]}" for h in RATE_HEADERS)


def unknown_model(client: openai.OpenAI) -> str:
    try:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    except openai.NotFoundError as e:
        expect(e.status_code == 404, f"status {e.status_code}")
        expect("no-such-model" in e.message, e.message)
        return f"NotFoundError: {e.message}"
    raise CheckFailed("no error")


def unknown_key(client: openai.OpenAI) -> str:
    try:
        client.with_options(api_key="sk-not-a-key").embeddings.create(
            model=EMBEDDING_MODEL, input="x"
        )
    except openai.AuthenticationError as e:
        expect(e.status_code == 401, f"status {e.status_code}")
        return f"AuthenticationError: {e.message}"
    raise CheckFailed("no error")


def request_too_large(client: openai.OpenAI) -> str:
    # provider-c's standard TPM is 5,000,000: a reservation past it can never fit
    try:
        client.with_options(max_retries=0).chat.completions.create(
            model=CHAT_MODEL, messages=MESSAGES, max_tokens=9_000_000
        )
    except openai.RateLimitError as e:
        expect(e.status_code == 429, f"status {e.status_code}")
        body = e.body if isinstance(e.body, dict) else {}
        expect(body.get("type") == "request_too_large", f"body {e.body}")
        expect("request too large" in e.message, e.message)
        return f"RateLimitError: {e.message[:60]}..."
    raise CheckFailed("no error")


def transcription_without_model(client: openai.OpenAI) -> str:
    # The SDK requires a model, so send the multipart body by hand through its client.
    try:
        client.post(
            "/audio/transcriptions",
            cast_to=object,
            body={"response_format": "json"},
            files=[("file", ("speech.wav", wav_bytes(), "audio/wav"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
        )
    except openai.BadRequestError as e:
        expect("'model'" in e.message, e.message)
        return f"BadRequestError: {e.message}"
    raise CheckFailed("no error")


def async_chat_stream(client: openai.OpenAI) -> str:
    async def stream() -> tuple[str, object]:
        async with openai.AsyncOpenAI(base_url=BASE_URL, api_key=KEY, timeout=60) as aclient:
            chunks = await aclient.chat.completions.create(
                model=CHAT_MODEL,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            text, usage = "", None
            async for chunk in chunks:
                text += "".join(c.delta.content or "" for c in chunk.choices)
                usage = chunk.usage or usage
            return text, usage

    text, usage = asyncio.run(stream())
    expect(bool(text) and usage is not None, f"{text=} {usage=}")
    return f"{len(text)} chars, usage {usage.total_tokens}"


MAIN_CHECKS = [
    chat_plain,
    chat_stream,
    async_chat_stream,
    embeddings_default,
    embeddings_float,
    images_generate,
    images_edit,
    audio_speech,
    audio_speech_streamed,
    audio_transcription,
    audio_transcription_text,
    transcription_too_large,
    raw_headers,
    unknown_model,
    unknown_key,
    request_too_large,
    transcription_without_model,
]


# --- checks against bench/clients/openai-tiny.toml --------------------------------------


def rate_limit_error(client: openai.OpenAI) -> str:
    strict = client.with_options(max_retries=0)
    for _ in range(2):
        strict.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, max_tokens=4)
    try:
        strict.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, max_tokens=4)
    except openai.RateLimitError as e:
        headers = e.response.headers
        expect(e.status_code == 429, f"status {e.status_code}")
        expect(int(headers["retry-after"]) >= 1, f"retry-after {headers.get('retry-after')}")
        expect(headers.get("x-ratelimit-remaining-requests") == "0", "remaining-requests")
        expect(isinstance(e.body, dict) and e.body.get("type") == "rate_limit_error", f"{e.body}")
        return f"RateLimitError after 2, retry-after {headers['retry-after']}s: {e.message}"
    raise CheckFailed("the third request in the window was not refused")


def sdk_retry_waits(client: openai.OpenAI) -> str:
    # The limit is exhausted by the previous check: the SDK's own retry must read
    # retry-after-ms / retry-after, sleep, and then get through.
    start = time.monotonic()
    resp = client.with_options(max_retries=2).chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, max_tokens=4
    )
    waited = time.monotonic() - start
    expect(bool(resp.choices), "no choices")
    expect(waited >= 1, f"succeeded after {waited:.1f}s without waiting")
    return f"succeeded after the SDK waited {waited:.1f}s"


TINY_CHECKS = [rate_limit_error, sdk_retry_waits]


# --- harness ---------------------------------------------------------------------------


def main() -> int:
    phases = [
        (REPO / "examples/provider-c.toml", MAIN_CHECKS),
        (REPO / "bench/clients/openai-tiny.toml", TINY_CHECKS),
    ]
    return demo.main(
        __doc__,
        f"openai {openai.__version__}",
        phases,
        lambda: openai.OpenAI(base_url=BASE_URL, api_key=KEY, timeout=60),
    )


if __name__ == "__main__":
    sys.exit(main())
