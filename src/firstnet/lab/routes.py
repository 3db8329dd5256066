"""The lab's page and API on the server of `firstnet serve` (docs/lab.md).

One job at a time per server: a second start, while a job is alive and a page follows it, is a 409
that says so (a job that no page has followed for UNWATCHED_S seconds is replaced). The page
follows its job through a stream of server-sent events (GET .../events), one frame each; when the
page goes (its tab closed), the stream ends and so does the job, within a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from pathlib import Path

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from firstnet.activations import ACTIVATIONS
from firstnet.data.toy import FIXED_CLASSES, TOY_DATASETS
from firstnet.errors import ConfigError
from firstnet.figures.boundary import CLASS_COLOURS
from firstnet.figures.style import PALETTE
from firstnet.lab.action import OPTIMIZERS, ToyJob, ToySettings
from firstnet.lab.job import OVER
from firstnet.serve.app import json_response
from firstnet.serve.inputs import BadRequest

STATIC = Path(__file__).parent / "static"
POLL_S = 0.02  # how often a stream looks for a new frame
MAX_SETTINGS_BYTES = 4096
UNWATCHED_S = 5.0  # a job no page has followed for this long is replaced by a new start


class Lab:
    """The server's one job (or none)."""

    def __init__(self) -> None:
        self.job: ToyJob | None = None
        self.name: str | None = None
        self.starting = asyncio.Lock()  # two starts at once: the second sees the first's job

    def find(self, name: str) -> ToyJob:
        if self.job is None or name != self.name:
            raise BadRequest(404, f"no lab job {name[:40]!r} (it ended, or another replaced it)")
        return self.job


def records(history: list[dict]) -> dict:
    """Epoch records as columns, for the page's curves."""
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
    return {key: [record.get(key) for record in history] for key in keys}


def add_lab(app: FastAPI) -> None:
    """The lab's page at /lab and its API under /api/lab."""
    lab = Lab()
    page = (STATIC / "lab.html").read_text()

    @app.get("/lab", response_class=HTMLResponse, include_in_schema=False)
    async def lab_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/lab/options", summary="what the lab's toy panel may train, and its defaults")
    async def options() -> Response:
        return json_response({
            "datasets": TOY_DATASETS, "fixed_classes": FIXED_CLASSES,
            "activations": list(ACTIVATIONS), "optimizers": list(OPTIMIZERS),
            "defaults": dataclasses.asdict(ToySettings()), "colours": PALETTE[: len(CLASS_COLOURS)],
        })  # fmt: skip

    async def start(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_SETTINGS_BYTES:
            raise BadRequest(413, f"settings over {MAX_SETTINGS_BYTES} bytes")
        try:
            settings = ToySettings.from_dict(orjson.loads(body) if body else {})
        except orjson.JSONDecodeError as bad:
            raise BadRequest(400, f"the settings are not valid JSON ({bad})") from None
        except ConfigError as bad:
            raise BadRequest(400, str(bad)) from None
        async with lab.starting:
            if lab.job is not None and not lab.job.over:
                if lab.job.watched or time.monotonic() - lab.job.born < UNWATCHED_S:
                    raise BadRequest(409, "a lab job is running (in another tab?): stop it first")
                lab.job.command("stop")  # no page follows it: abandoned
            try:  # TrainConfig checks the settings once more
                job = await asyncio.get_running_loop().run_in_executor(None, ToyJob, settings)
            except ConfigError as bad:
                raise BadRequest(400, str(bad)) from None
            lab.job, lab.name = job, secrets.token_hex(8)
        payload = {"job": lab.name, "settings": dataclasses.asdict(settings), **job.points()}
        return json_response(payload)

    async def control(request: Request) -> Response:
        job = lab.find(request.path_params["job"])
        try:
            state = job.command(request.path_params["command"])
        except ConfigError as bad:
            raise BadRequest(400, str(bad)) from None
        return json_response({"state": state, "step": job.steps})

    async def events(request: Request) -> Response:
        job = lab.find(request.path_params["job"])
        return StreamingResponse(
            stream(job), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    app.add_route("/api/lab/toy", start, methods=["POST"])
    app.add_route("/api/lab/jobs/{job}/events", events, methods=["GET"])
    app.add_route("/api/lab/jobs/{job}/{command}", control, methods=["POST"])
    app.mount("/lab/static", StaticFiles(directory=STATIC), name="lab-static")


async def stream(job: ToyJob):
    """Server-sent events: each new frame of `job` with the epoch records since the last one; the
    job is stopped when the stream ends before it (the page has gone)."""
    version, sent = -1, 0
    job.watched += 1
    try:
        while True:
            if job.version != version:
                version, frame = job.version, job.frame
                new, sent = job.trainer.history[sent : frame["epochs"]], frame["epochs"]
                payload = orjson.dumps(frame | {"records": records(new)})
                yield b"data: " + payload + b"\n\n"
                if frame["state"] in OVER:  # the job's last frame
                    return
            await asyncio.sleep(POLL_S)
    finally:
        job.watched -= 1
        if not job.over:
            job.command("stop")
