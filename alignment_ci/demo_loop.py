"""The demo's vendor side: the rater bridge over HTTP on loopback, and the closed loop.

The demo talks to the bridge as a vendor would: it starts ``alignment-ci bridge serve``
as its own process, adds a vendor through the CLI, and pushes batches and pulls tasks
over HTTP (so alignment_ci never imports rater_bridge).
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from .config import Config
from .errors import AlignmentCIError
from .forge.local import LocalForge
from .jsonl import write_jsonl
from .synth import BAD_ANSWERS, TOPICS, good_answer


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(config_path: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "alignment_ci.cli", *args, "--config", str(config_path), "--format", "json"],
        capture_output=True, text=True, cwd=config_path.parent,
    )
    if result.returncode != 0:
        raise AlignmentCIError(f"alignment-ci {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)


class BridgeProcess:
    """``alignment-ci bridge serve`` on 127.0.0.1 for the length of a ``with`` block."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = config_path.parent / ".alignment-ci" / "bridge-access.log"

    def __enter__(self) -> "BridgeProcess":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "alignment_ci.cli", "bridge", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--config", str(self.config_path)],
            cwd=self.config_path.parent, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AlignmentCIError(f"the rater bridge exited at start; see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise AlignmentCIError(f"the rater bridge did not answer within 60 s; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def add_vendor(self, name: str) -> str:
        return _cli(self.config_path, "bridge", "vendor", "add", name)["token"]

    def mark(self, vendor: str, batch_id: str, status: str) -> dict[str, Any]:
        return _cli(self.config_path, "bridge", "mark", vendor, batch_id, status)


class Vendor:
    """A labeling vendor's HTTP client."""

    def __init__(self, bridge: BridgeProcess, token: str) -> None:
        self.client = httpx.Client(base_url=bridge.url, headers={"Authorization": f"Bearer {token}"}, timeout=120.0)

    def push(self, path: Path) -> tuple[int, dict[str, Any]]:
        with open(path, "rb") as fh:
            r = self.client.post("/v1/batches", params={"format": "jsonl"}, content=fh.read())
        return r.status_code, r.json()

    def status(self, batch_id: str) -> dict[str, Any]:
        return self.client.get(f"/v1/batches/{batch_id}").json()

    def tasks(self, rater_id: str, n: int) -> list[dict[str, Any]]:
        r = self.client.get("/v1/tasks", params={"rater_id": rater_id, "n": n})
        r.raise_for_status()
        return r.json()["tasks"]

    def calibrate(self, rater_id: str, dimension: str, answers: dict[str, str]) -> dict[str, Any]:
        r = self.client.post(f"/v1/calibration/{dimension}", json={"rater_id": rater_id, "answers": answers})
        r.raise_for_status()
        return r.json()


def merge_pull_request(config: Config, number: int) -> list[str]:
    """Merge a PR of the local forge into the workspace (what clicking Merge does on GitHub)."""

    forge = LocalForge(config.resolve(config.forge.local_path))
    return forge.merge_pull_request(number, config.root)


# ------------------------------------------------------------------ closed loop


def production_events(path: Path, n: int = 400, seed: int = 5) -> Path:
    """Served responses of the rolled-back candidate, with thumbs-down, corrections and users."""

    rng = random.Random(seed)
    start = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
    events = []
    for i in range(n):
        topic, advice = TOPICS[i % len(TOPICS)]
        failed = rng.random() < 0.25
        event = {
            "timestamp": (start + timedelta(seconds=7 * i)).isoformat(),
            "model_version": "policy-worse",
            "request_id": f"prod-{i:05d}",
            "prompt": f"How do I {topic}?" if rng.random() < 0.8 else f"Quick question: how do I {topic}?",
            "response": rng.choice(BAD_ANSWERS) if failed else good_answer(topic, advice, rng),
            "thumbs": "down" if failed else rng.choice(["up", None]),
            "escalated": failed and rng.random() < 0.3,
            "tokens": rng.randint(20, 200),
            "customer_tier": rng.choice(["free", "pro", "enterprise"]),
            "user_id": f"user-{rng.randint(1, 60)}",
            "opted_out": rng.random() < 0.05,
            "language": "en",
        }
        if failed:
            event["correction"] = good_answer(topic, advice, rng)
        events.append(event)
    return write_jsonl(events, path)


def judge(task: dict[str, Any], rng: random.Random) -> str:
    """A careful rater: prefers the specific, polite answer (the demo's planted preference)."""
    a, b = task["responses"][0], task["responses"][1]
    a_good, b_good = "Let me know" in a, "Let me know" in b
    if a_good == b_good:
        return rng.choice(["a", "b"])
    pick = "a" if a_good else "b"
    return pick if rng.random() < 0.92 else ("b" if pick == "a" else "a")
