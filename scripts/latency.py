"""Latency probe of a running gateway over REST: anyone can rerun it, it is not a test.

Two measurements, one model per modality (the first of each found in ``GET /v1/models``, or those named):

1. low load: one request at a time, one instance each; median and p99 of the client-side latency
   (keep-alive connection, JSON body with a base64 file or a text);
2. 32 concurrent clients for a few seconds: throughput, and the largest model batch seen, read from the
   ``classifier_batch_size`` histogram on ``/metrics`` (the difference over the run; the histogram's
   buckets bound it: "9-16" means the largest batch had between 9 and 16 rows).

    .venv/bin/python scripts/latency.py --url http://127.0.0.1:8000
    .venv/bin/python scripts/latency.py --image some.png --audio some.wav --text "free money now"
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import math
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

MODALITIES = ("text", "image", "audio")
DEFAULT_TEXT = (
    "Congratulations! You have been selected to receive a free prize. Reply now with your details to claim it,"
    " or call the number below before the offer ends this Friday."
)


def synthetic_inputs() -> dict[str, bytes | str]:
    """A 64x64 grayscale PNG of a ring, one second of 16 kHz speech-band tone as WAV, and a short text."""
    import soundfile
    from PIL import Image

    y, x = np.mgrid[-1:1:64j, -1:1:64j]
    ring = ((np.abs(np.hypot(x, y) - 0.55) < 0.12) * 255).astype(np.uint8)
    png = io.BytesIO()
    Image.fromarray(ring, mode="L").save(png, format="PNG")
    t = np.arange(16_000) / 16_000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) ** 2
    wav = io.BytesIO()
    soundfile.write(wav, tone.astype(np.float32), 16_000, format="WAV", subtype="PCM_16")
    return {"image": png.getvalue(), "audio": wav.getvalue(), "text": DEFAULT_TEXT}


def body_for(raw: bytes | str) -> dict[str, Any]:
    """The JSON classify body of one instance."""
    instance = {"text": raw} if isinstance(raw, str) else {"b64": base64.b64encode(raw).decode("ascii")}
    return {"instances": [instance]}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def low_load(client: httpx.AsyncClient, model: str, body: dict[str, Any], requests: int) -> list[float]:
    """Milliseconds of ``requests`` sequential requests, after a few warm-up ones."""
    url = f"/v1/models/{model}:classify"
    for _ in range(5):
        (await client.post(url, json=body)).raise_for_status()
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.post(url, json=body)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


async def concurrent_load(
    client: httpx.AsyncClient, model: str, body: dict[str, Any], clients: int, seconds: float
) -> tuple[int, int]:
    """(answered, failed) requests of ``clients`` closed-loop clients over ``seconds``."""
    url = f"/v1/models/{model}:classify"
    deadline = time.perf_counter() + seconds
    answered = failed = 0

    async def one_client() -> None:
        nonlocal answered, failed
        while time.perf_counter() < deadline:
            response = await client.post(url, json=body)
            if response.status_code == 200:
                answered += 1
            else:
                failed += 1

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return answered, failed


def batch_histogram(exposition: str, model: str) -> dict[float, float]:
    """Cumulative bucket counts of ``classifier_batch_size`` for one model, over all its versions."""
    buckets: dict[float, float] = {}
    for line in exposition.splitlines():
        if line.startswith("classifier_batch_size_bucket{") and f'model="{model}"' in line:
            labels, _, value = line.rpartition(" ")
            le = labels.split('le="', 1)[1].split('"', 1)[0]
            bound = math.inf if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(value)
    return buckets


def largest_batch(before: dict[float, float], after: dict[float, float]) -> str:
    """The bucket range holding the largest batch observed between two scrapes."""
    bounds = sorted(after)
    delta = {b: after[b] - before.get(b, 0.0) for b in bounds}
    total = delta.get(math.inf, 0.0)
    if total == 0:
        return "no model call recorded"
    previous = 0.0
    for bound in bounds:
        if delta[bound] >= total:
            low = int(previous) + 1
            high = "inf" if bound == math.inf else str(int(bound))
            return f"{low}-{high} rows ({int(total)} model calls)" if str(low) != high else f"{high} rows"
        previous = bound
    return "unknown"


async def pick_models(client: httpx.AsyncClient, named: dict[str, str | None]) -> dict[str, str]:
    """Model per modality: the one named, else the first AVAILABLE model of that modality."""
    response = await client.get("/v1/models")
    response.raise_for_status()
    chosen = {m: n for m, n in named.items() if n}
    for model in response.json()["models"]:
        if model["modality"] in MODALITIES and model["default_version"] is not None:
            chosen.setdefault(model["modality"], model["name"])
    return chosen


async def main(args: argparse.Namespace) -> None:
    inputs = synthetic_inputs()
    if args.image:
        inputs["image"] = Path(args.image).read_bytes()
    if args.audio:
        inputs["audio"] = Path(args.audio).read_bytes()
    if args.text:
        inputs["text"] = args.text
    limits = httpx.Limits(max_connections=args.clients + 4, max_keepalive_connections=args.clients + 4)
    async with httpx.AsyncClient(base_url=args.url, timeout=60, limits=limits) as client:
        models = await pick_models(
            client, {"image": args.image_model, "text": args.text_model, "audio": args.audio_model}
        )
        print(f"gateway {args.url}; models {models}")
        print(f"\nlow load: {args.requests} sequential single-instance requests per model")
        for modality in MODALITIES:
            if modality not in models:
                print(f"  {modality:5s}: no model")
                continue
            ms = await low_load(client, models[modality], body_for(inputs[modality]), args.requests)
            print(
                f"  {modality:5s} {models[modality]:16s} median {statistics.median(ms):7.2f} ms"
                f"   p99 {percentile(ms, 99):7.2f} ms   max {max(ms):7.2f} ms"
            )
        print(f"\n{args.clients} concurrent clients, {args.seconds:.0f} s per model")
        for modality in MODALITIES:
            if modality not in models:
                continue
            name = models[modality]
            before = batch_histogram((await client.get("/metrics")).text, name)
            started = time.perf_counter()
            answered, failed = await concurrent_load(
                client, name, body_for(inputs[modality]), args.clients, args.seconds
            )
            elapsed = time.perf_counter() - started
            after = batch_histogram((await client.get("/metrics")).text, name)
            print(
                f"  {modality:5s} {name:16s} {answered / elapsed:8.1f} req/s   failed {failed}"
                f"   largest batch {largest_batch(before, after)}"
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway's REST base URL")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per model (low load)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (batching run)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each concurrent run")
    for modality in MODALITIES:
        parser.add_argument(f"--{modality}-model", help=f"the {modality} model (default: the first found)")
    parser.add_argument("--image", help="an image file to send (default: a synthetic PNG)")
    parser.add_argument("--audio", help="a WAV file to send (default: a synthetic tone)")
    parser.add_argument("--text", help="a text to send")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
