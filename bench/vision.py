"""Vision API benchmark: the real ``mathnotes-vision`` (shipped gunicorn settings) against a fake model.

The fake model (``python -m tests.support.fake_openai --delay 1``) runs in its own
process and takes 1 s per answer. Prints one JSON object:

* ``added_latency_ms``: client-observed latency minus the model call's own time
  (``timings.upstream_ms``), p50/p99, for a note photo and for a 12 MP photo;
* ``throughput``: requests/s with 64 concurrent clients against the 64 req/s ideal;
* ``upstream_bytes``: bytes sent upstream for a 12 MP phone photo against its size;
* ``cache_hit_latency_ms``: p50/p99 of a cached answer.

    .venv/bin/python -m bench.vision [--seconds 20] [--clients 64]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageDraw, ImageFont
from tests.support.servers import Mosquitto, ServiceProcess, free_port, wait_until

from mathnotes.common.settings import load
from mathnotes.vision.settings import VisionSettings

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def note_photo(width: int, height: int, quality: int) -> bytes:
    """A photo-like page: paper noise, shading, lines of 'handwriting' and a formula."""
    rng = random.Random(width)
    noise = Image.effect_noise((width // 4, height // 4), 40).resize((width, height))
    page = Image.merge("RGB", [noise.point(lambda v, k=k: min(255, 150 + v // 3 + k)) for k in (20, 15, 0)])
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, max(24, height // 30))
    draw.text((width // 10, height // 12), "x^2 + 2x + 1 = 0", fill=(20, 20, 70), font=font)
    for row in range(height // 80):
        y = height // 5 + row * 70
        x = width // 20
        while x < width - width // 10:
            w = rng.randint(20, 120)
            draw.line([(x, y + rng.randint(-8, 8)), (x + w, y + rng.randint(-8, 8))], fill=(30, 30, 60), width=5)
            x += w + rng.randint(10, 40)
    out = io.BytesIO()
    page.save(out, "JPEG", quality=quality)
    return out.getvalue()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def post(session: requests.Session, url: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    resp = session.post(url, json=body, timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    resp.raise_for_status()
    return elapsed, resp.json()


def added_latency(url: str, image: str, n: int) -> dict[str, float]:
    session = requests.Session()
    added, model = [], []
    for _ in range(n):
        total, answer = post(session, url, {"image": image, "cache": False})
        added.append(total - answer["timings"]["upstream_ms"])
        model.append(answer["timings"]["upstream_ms"])
    return {"p50": pct(added, 0.5), "p99": pct(added, 0.99), "model_p50": pct(model, 0.5), "requests": n}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the gunicorn master and workers)."""
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def throughput(url: str, image: str, clients: int, seconds: float, server_pid: int) -> dict[str, float]:
    cpu_before = cpu_seconds(server_pid)
    done: list[float] = []
    finished: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def client() -> None:
        session = requests.Session()
        start.wait()
        while time.perf_counter() < stop_at[0]:
            try:
                elapsed, _answer = post(session, url, {"image": image, "cache": False})
                with lock:
                    done.append(elapsed)
                    finished.append(time.perf_counter())
            except Exception as err:
                with lock:
                    errors.append(type(err).__name__)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at.append(began + seconds)
    start.wait()
    for t in threads:
        t.join()
    # steady state: completions after a 2 s ramp-up and before the clients stop sending
    window = (began + 2.0, stop_at[0])
    rate = sum(window[0] <= t <= window[1] for t in finished) / (window[1] - window[0])
    cpu = cpu_seconds(server_pid) - cpu_before
    return {
        "clients": clients,
        "requests": len(done),
        "errors": len(errors),
        "req_per_s": round(rate, 1),
        "ideal_req_per_s": float(clients),
        "fraction_of_ideal": round(rate / clients, 3),
        "latency_p50_ms": pct(done, 0.5) if done else 0.0,
        "latency_p99_ms": pct(done, 0.99) if done else 0.0,
        "server_cpu_ms_per_request": round(cpu * 1000 / max(1, len(done)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the throughput run")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="override VISION_WORKERS (0: shipped default)")
    parser.add_argument("--delay", type=float, default=1.0, help="the fake model's latency in seconds")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-vision-"))
    model_port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_openai", "--port", str(model_port), "--delay", str(args.delay)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],  # the repository root, where ``tests.support`` is found
    )
    broker = Mosquitto(work / "mosquitto")
    broker.start()
    service = ServiceProcess.on_free_port(
        "mathnotes-vision",
        work / "vision",
        {
            "DASHSCOPE_API_KEY": "sk-bench",
            "DASHSCOPE_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
            "MQTT_URL": broker.url,
            "RATE_LIMIT_MAX_REQUESTS": "1000000000",
            "LOG_LEVEL": "warning",
            **({"VISION_WORKERS": str(args.workers)} if args.workers else {}),
        },
    )
    try:
        assert wait_until(lambda: requests.get(f"http://127.0.0.1:{model_port}/v1/models", timeout=1).ok, 20)
        service.start()
        url = f"{service.url}/api/vision/analyze"
        defaults = load(VisionSettings, {}, env_file="/nonexistent")
        workers = args.workers or defaults.workers
        assert service.proc is not None
        pid = service.proc.pid
        note = note_photo(1280, 960, 90)
        photo = note_photo(4032, 3024, 93)
        small = note_photo(800, 400, 85)
        note_b64, photo_b64 = base64.b64encode(note).decode(), base64.b64encode(photo).decode()
        small_b64 = base64.b64encode(small).decode()
        post(requests.Session(), url, {"image": note_b64, "cache": False})  # warm-up

        _ms, answer = post(requests.Session(), url, {"image": photo_b64, "cache": False})
        image = answer["image"]
        session = requests.Session()
        post(session, url, {"image": note_b64})
        hits = [post(session, url, {"image": note_b64})[0] for _ in range(200)]
        result = {
            "model_delay_s": args.delay,
            "server": f"gunicorn gthread, VISION_WORKERS={workers}, VISION_THREADS={defaults.threads}",
            "added_latency_ms": {
                "note_1_2mp": added_latency(url, note_b64, 30),
                "photo_12mp": added_latency(url, photo_b64, 15),
            },
            "throughput": {
                "small_note": throughput(url, small_b64, args.clients, args.seconds, pid),
                "note_1_2mp": throughput(url, note_b64, args.clients, args.seconds, pid),
            },
            "upstream_bytes": {
                "original_bytes": image["bytes_received"],
                "upstream_bytes": image["bytes_upstream"],
                "ratio": round(image["bytes_upstream"] / image["bytes_received"], 3),
                "original_size": [image["source_width"], image["source_height"]],
                "upstream_size": [image["width"], image["height"]],
            },
            "cache_hit_latency_ms": {"p50": pct(hits, 0.5), "p99": pct(hits, 0.99), "requests": len(hits)},
            "image_bytes": {"small_note": len(small), "note_1_2mp": len(note), "photo_12mp": len(photo)},
        }
        metrics = requests.get(f"{service.url}/metrics", timeout=5).text
        result["telemetry_points"] = {
            line.split("{")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("vision_telemetry_points_total{")
        }
        print(json.dumps(result, indent=2))
    finally:
        service.stop()
        broker.stop()
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
