"""Memory is measured, never assumed: hostile images against the real gunicorn process, peak RSS per worker.

The documented arithmetic (settings.py, vision README): an idle worker plus at most
VISION_DECODE_LARGE_MB of decoding plus a few request bodies per worker, one large
decode at a time in the container. The images are the expensive kinds: an RGBA PNG
at the pixel limit, a 24 MP HEIC, a progressive 4:4:4 JPEG, a WebP, all at once.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageDraw

from mathnotes.vision.budget import BudgetExceeded, DecodeBudget
from mathnotes.vision.settings import VisionSettings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import RunService, wait_until

from ..procfs import status_kb, tree, tree_kb
from .helpers import service_env

MB = 1 << 20
IDLE_WORKER_MB = 80  # a worker after its first requests (measured 66 MB RSS, shared pages included)
MASTER_MB = 120  # the gunicorn master: 86 to 90 MB before the notes library, 104 to 107 MB with it (it migrates)
BODIES_MB = 40  # the request bodies in flight in this test (8 clients, files of at most 3 MB)
DEFAULTS = VisionSettings()
WORKER_CEILING_MB = IDLE_WORKER_MB + DEFAULTS.decode_large_mb + BODIES_MB


def _ruled(mode: str, size: tuple[int, int]) -> Image.Image:
    """A ruled page: cheap to compress, expensive to decode."""
    img = Image.new(mode, size, (255, 255, 255, 0) if mode == "RGBA" else "white")
    draw = ImageDraw.Draw(img)
    ink = (20, 20, 60, 255) if mode == "RGBA" else (20, 20, 60)
    for y in range(0, size[1], 61):
        draw.line([(0, y), (size[0], y)], fill=ink, width=3)
    return img


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Images at the limits, each far bigger decoded than on the wire."""
    side = int(DEFAULTS.max_input_pixels**0.5) - 50  # 6274 x 6274: just under the pixel limit
    return {
        "rgba_png": _save(_ruled("RGBA", (side, side)), "PNG", compress_level=1),
        "heic_24mp": _save(_ruled("RGB", (5712, 4284)), "HEIF", quality=30),
        "jpeg_444_progressive": _save(_ruled("RGB", (4800, 4800)), "JPEG", subsampling=0, progressive=True),
        "webp": _save(_ruled("RGBA", (3300, 3300)), "WEBP", lossless=True),
    }


class TreeSampler:
    """Polls the summed RSS of a process tree (VmHWM is per process; the sum's peak needs sampling)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, tree_kb(self.pid, "VmRSS"))

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def service(run_service: RunService, model: FakeOpenAI) -> Iterator[tuple[str, int]]:
    env = service_env(model, VISION_WORKERS="2", VISION_THREADS="16", VISION_CACHE_ENTRIES="0")
    proc = run_service("mathnotes-vision", env)
    assert proc.proc is not None
    master = proc.proc.pid
    assert wait_until(lambda: len(tree(master)) == 3, 30), tree(master)  # both workers booted
    for _ in range(4):  # each worker past its first request, so "idle" means warmed up
        requests.get(f"{proc.url}/api/vision/schema", headers={"Connection": "close"}, timeout=10)
    yield proc.url, master


def test_hostile_images_stay_within_the_documented_memory(service: tuple[str, int], hostile: dict[str, bytes]) -> None:
    url, master = service

    def send(name: str) -> tuple[str, int, str]:
        resp = requests.post(
            f"{url}/api/vision/analyze", data=hostile[name],
            headers={"Content-Type": "application/octet-stream", "Connection": "close"}, timeout=240,
        )  # fmt: skip
        code = resp.json()["error"]["code"] if resp.status_code != 200 else ""
        return name, resp.status_code, code

    workers = tree(master)[1:]
    assert len(workers) == 2
    idle = {pid: status_kb(pid, "VmRSS") // 1024 for pid in workers}
    assert all(mb < IDLE_WORKER_MB for mb in idle.values()), idle
    assert status_kb(master, "VmRSS") // 1024 < MASTER_MB
    with TreeSampler(master) as sampler, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, [name for name in hostile for _ in range(3)]))
    assert all(status == 200 for _name, status, _code in results), results
    peaks = {pid: status_kb(pid, "VmHWM") // 1024 for pid in workers}
    print(f"idle RSS MB {idle}; peak RSS MB {peaks}; tree peak {sampler.peak_kb // 1024} MB")
    for pid, peak in peaks.items():
        assert peak <= WORKER_CEILING_MB, (pid, peak, WORKER_CEILING_MB)
    # the container: master + both workers, one large decode at a time (shared pages counted twice here)
    container_ceiling = MASTER_MB + 2 * IDLE_WORKER_MB + DEFAULTS.decode_memory_mb + DEFAULTS.decode_large_mb
    container_ceiling += 2 * BODIES_MB
    assert sampler.peak_kb // 1024 <= container_ceiling
    assert requests.get(f"{url}/health", timeout=5).status_code == 200


def test_an_image_that_would_take_more_than_the_limit_is_refused_before_decoding(
    service: tuple[str, int],
) -> None:
    url, master = service
    webp = _save(_ruled("RGB", (6000, 6000)), "WEBP", lossless=True)  # libwebp alone would take 36M x 12 bytes
    before = {pid: status_kb(pid, "VmHWM") for pid in tree(master)[1:]}
    for _ in range(4):
        resp = requests.post(
            f"{url}/api/vision/analyze", data=webp,
            headers={"Content-Type": "image/webp", "Connection": "close"}, timeout=60,
        )  # fmt: skip
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["code"] == "image_too_large" and "VISION_DECODE_LARGE_MB" in error["message"]
    after = {pid: status_kb(pid, "VmHWM") for pid in tree(master)[1:]}
    assert all(after[pid] - before[pid] < 64 * 1024 for pid in before), (before, after)


def test_the_budget_admits_in_order_and_never_holds_more_than_its_total(tmp_path: Path) -> None:
    budget = DecodeBudget(100, 3, 250, str(tmp_path / "large.lock"))
    other_worker = DecodeBudget(100, 3, 250, str(tmp_path / "large.lock"))
    with pytest.raises(BudgetExceeded):
        with budget.hold(251):
            pass
    held: list[int] = []
    large_at_once = [0, 0]
    lock = threading.Lock()

    def work(b: DecodeBudget, cost: int) -> None:
        with b.hold(cost):
            with lock:
                if cost > 100:
                    large_at_once[0] += 1
                    large_at_once[1] = max(large_at_once[1], large_at_once[0])
                held.append(b.held)
            threading.Event().wait(0.01)
            with lock:
                if cost > 100:
                    large_at_once[0] -= 1

    costs = [30, 60, 200, 10, 90, 150, 40, 100, 5, 240] * 3
    threads = [threading.Thread(target=work, args=(budget if i % 2 else other_worker, c)) for i, c in enumerate(costs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(held) == len(costs)
    assert max(held) <= 100  # what each worker held, read as each decode was admitted
    assert large_at_once[1] == 1  # the lock file lets one large decode run across both "workers"
    assert budget.held == 0 and other_worker.held == 0
