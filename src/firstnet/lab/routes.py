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

from firstnet import config
from firstnet.activations import ACTIVATIONS
from firstnet.data import DATASETS, LabelledData, load_dataset
from firstnet.data.toy import FIXED_CLASSES, TOY_DATASETS
from firstnet.errors import ConfigError, DataFormatError, DataNotFoundError, FirstnetError
from firstnet.figures.boundary import CLASS_COLOURS
from firstnet.figures.style import PALETTE
from firstnet.lab import gradient
from firstnet.lab.action import OPTIMIZERS, ToyJob, ToySettings
from firstnet.lab.job import OVER, Job
from firstnet.lab.mnist import (
    LAB_BOUNDS,
    LAB_FIELDS,
    Busy,
    MnistJob,
    lab_config,
    lab_defaults,
    panel_values,
    train_command,
)
from firstnet.serve.app import json_response, prepare, read_image
from firstnet.serve.inputs import BadRequest

STATIC = Path(__file__).parent / "static"
POLL_S = 0.02  # how often a stream looks for a new frame
MAX_SETTINGS_BYTES = 4096
UNWATCHED_S = 5.0  # a job no page has followed for this long is replaced by a new start


class Lab:
    """The server's one job (or none), and the data sets its MNIST jobs loaded."""

    def __init__(self, runs_dir: Path) -> None:
        self.job: Job | None = None
        self.name: str | None = None
        self.runs_dir = runs_dir
        self.starting = asyncio.Lock()  # two starts at once: the second sees the first's job
        self.datasets: dict[str, LabelledData] = {}
        self.slices: dict[str, dict] = {}  # the gradient panel's MNIST surfaces, made once
        self.slicing = asyncio.Lock()

    def find(self, name: str) -> Job:
        if self.job is None or name != self.name:
            raise BadRequest(404, f"no lab job {name[:40]!r} (it ended, or another replaced it)")
        return self.job

    def forget(self, job: Job) -> None:
        """The job of a page that has gone, and no other page follows: dropped, with its model,
        its data and its folder."""
        if job is self.job and not job.watched:
            self.job = self.name = None

    def mnist_job(self, name: str) -> MnistJob:
        job = self.find(name)
        if not isinstance(job, MnistJob):
            raise BadRequest(400, "this job trains on points of a plane: it has no pad")
        return job

    def data(self, dataset: str) -> LabelledData:
        """The data set, loaded once (the first time from the download cache or the network)."""
        if dataset not in self.datasets:
            self.datasets[dataset] = load_dataset(dataset=dataset)
        return self.datasets[dataset]


def records(history: list[dict]) -> dict:
    """Epoch records as columns, for the page's curves."""
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
    return {key: [record.get(key) for record in history] for key in keys}


async def read_settings(request: Request) -> object:
    body = await request.body()
    if len(body) > MAX_SETTINGS_BYTES:
        raise BadRequest(413, f"settings over {MAX_SETTINGS_BYTES} bytes")
    try:
        return orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as bad:
        raise BadRequest(400, f"the settings are not valid JSON ({bad})") from None


def options() -> dict:
    """What the panels may train, and their defaults."""
    return {
        "datasets": TOY_DATASETS, "fixed_classes": FIXED_CLASSES,
        "activations": list(ACTIVATIONS), "optimizers": list(OPTIMIZERS),
        "defaults": dataclasses.asdict(ToySettings()), "colours": PALETTE[: len(CLASS_COLOURS)],
        "mnist": {
            "fields": LAB_FIELDS, "bounds": LAB_BOUNDS, "defaults": lab_defaults(),
            "choices": {"dataset": list(DATASETS), "model": list(config.MODELS),
                        "activation": list(ACTIVATIONS), "optimizer": list(config.OPTIMIZERS),
                        "schedule": list(config.SCHEDULES), "precision": list(config.PRECISIONS)},
        },
    }  # fmt: skip


def add_lab(app: FastAPI, runs_dir: Path = Path("runs")) -> None:
    """The lab's page at /lab and its API under /api/lab; "save as run" writes into `runs_dir`."""
    lab = Lab(runs_dir)
    page = (STATIC / "lab.html").read_text()
    offered = options()

    @app.get("/lab", response_class=HTMLResponse, include_in_schema=False)
    async def lab_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/lab/options", summary="what the lab's panels may train, and their defaults")
    async def lab_options() -> Response:
        return json_response(offered)

    async def replace(make) -> Job:
        """A new job made by `make()` in a worker thread, unless a page follows a live one."""
        async with lab.starting:
            if lab.job is not None and not lab.job.over:
                if lab.job.watched or time.monotonic() - lab.job.born < UNWATCHED_S:
                    raise BadRequest(409, "a lab job is running (in another tab?): stop it first")
                lab.job.command("stop")  # no page follows it: abandoned
            old, lab.job, lab.name = lab.job, None, None

            def replaced() -> Job:  # the old job's last step done before the new one starts
                if old is not None and getattr(old, "thread", None) is not None:
                    old.thread.join(2)
                return make()

            try:  # TrainConfig checks the settings once more
                job = await asyncio.get_running_loop().run_in_executor(None, replaced)
            except ConfigError as bad:
                raise BadRequest(400, str(bad)) from None
            except (DataNotFoundError, DataFormatError) as missing:
                raise BadRequest(503, f"the data set cannot be loaded: {missing}") from None
            lab.job, lab.name = job, secrets.token_hex(8)
            return job

    async def start_toy(request: Request) -> Response:
        try:
            settings = ToySettings.from_dict(await read_settings(request))
        except ConfigError as bad:
            raise BadRequest(400, str(bad)) from None
        job = await replace(lambda: ToyJob(settings))
        payload = {"job": lab.name, "settings": dataclasses.asdict(settings), **job.points()}
        return json_response(payload)

    async def start_mnist(request: Request) -> Response:
        try:
            cfg = lab_config(await read_settings(request))
        except ConfigError as bad:
            raise BadRequest(400, str(bad)) from None
        foreground = request.app.state.foreground.wait_idle  # the drawing page's answers first
        job = await replace(lambda: MnistJob(cfg, lab.data(cfg.dataset), foreground))
        return json_response({
            "job": lab.name, "settings": panel_values(cfg), "command": train_command(cfg),
            "classes": list(DATASETS[cfg.dataset].classes), "total_steps": job.total_steps,
            "train_examples": len(job.data.train_labels),
        })  # fmt: skip

    async def control(request: Request) -> Response:
        job = lab.find(request.path_params["job"])
        try:
            state = job.command(request.path_params["command"])
        except ConfigError as bad:
            raise BadRequest(400, str(bad)) from None
        return json_response({"state": state, "step": job.steps})

    async def ask(request: Request, function, *args) -> Response:
        """`function(image, *args)` of the job on the request's image (as /api/predict reads one)
        in a worker thread: a 409 while its model trains."""
        job = lab.mnist_job(request.path_params["job"])
        gray, _, preprocess = await read_image(request)
        image, _ = await prepare(request, gray, preprocess)
        try:
            answer = await asyncio.get_running_loop().run_in_executor(
                None, function(job), image, *args
            )
        except Busy as busy:
            raise BadRequest(409, str(busy)) from None
        except ConfigError as bad:
            raise BadRequest(400, str(bad)) from None
        return json_response(answer | {"image": image.round(3)})

    async def pad(request: Request) -> Response:
        return await ask(request, lambda job: job.predict)

    async def teach(request: Request) -> Response:
        query = request.query_params
        try:
            label, lr = int(query.get("label", "")), float(query.get("lr", "0.1"))
        except ValueError:
            raise BadRequest(400, "teach takes ?label=DIGIT&lr=RATE&step=0|1") from None
        step = query.get("step", "0") == "1"
        return await ask(request, lambda job: job.teach, label, lr, step)

    async def save(request: Request) -> Response:
        job = lab.mnist_job(request.path_params["job"])
        try:
            saved = await asyncio.get_running_loop().run_in_executor(None, job.save, lab.runs_dir)
        except ConfigError as bad:
            raise BadRequest(409, str(bad)) from None
        except (FirstnetError, OSError) as failed:  # a full disk, a folder it may not write
            raise BadRequest(507, f"cannot save the run: {failed}") from None
        return json_response(saved)

    async def events(request: Request) -> Response:
        job = lab.find(request.path_params["job"])
        return StreamingResponse(
            stream(job, lambda: lab.forget(job)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/api/lab/surface", summary="the gradient panel's loss surface and gradient field")
    async def surface(name: str = "two-weights", seed: int = 0) -> Response:
        if name not in gradient.SURFACES:
            raise BadRequest(
                400, f"surface {name[:40]!r}: choose from {', '.join(gradient.SURFACES)}"
            )
        if not 0 <= seed < 2**31:
            raise BadRequest(400, f"seed must lie in [0, {2**31 - 1}], got {seed}")
        loop = asyncio.get_running_loop()
        if name == "two-weights":
            return json_response(await loop.run_in_executor(None, gradient.surface, seed))
        async with lab.slicing:  # trained once per server: the first asker waits (seconds)
            if not lab.slices:
                settings = gradient.SLICE_MLP
                try:
                    lab.slices = await loop.run_in_executor(None, lambda: gradient.slices(
                        lab.data("mnist"), settings["hidden"], settings["epochs"],
                        settings["grid"], settings["seed"]))  # fmt: skip
                except (DataNotFoundError, DataFormatError) as missing:
                    raise BadRequest(503, f"MNIST cannot be loaded: {missing}") from None
        return json_response(lab.slices[name])

    async def descent(request: Request) -> Response:
        try:
            settings = gradient.DescentSettings.from_dict(await read_settings(request))
        except ConfigError as bad:
            raise BadRequest(400, str(bad)) from None
        loop = asyncio.get_running_loop()
        return json_response(await loop.run_in_executor(None, gradient.descent, settings))

    app.add_route("/api/lab/descent", descent, methods=["POST"])
    app.add_route("/api/lab/toy", start_toy, methods=["POST"])
    app.add_route("/api/lab/mnist", start_mnist, methods=["POST"])
    app.add_route("/api/lab/jobs/{job}/events", events, methods=["GET"])
    app.add_route("/api/lab/jobs/{job}/predict", pad, methods=["POST"])
    app.add_route("/api/lab/jobs/{job}/teach", teach, methods=["POST"])
    app.add_route("/api/lab/jobs/{job}/save", save, methods=["POST"])
    app.add_route("/api/lab/jobs/{job}/{command}", control, methods=["POST"])
    app.mount("/lab/static", StaticFiles(directory=STATIC), name="lab-static")


async def stream(job: Job, gone):
    """Server-sent events: each new frame of `job` with the epoch records and the trace points
    since the last one sent (a frame skipped by a slow reader loses none of them). When
    the stream ends before the job (the page has gone), the job is stopped and `gone()` called."""
    version, sent, traced = -1, 0, 0
    job.watched += 1
    try:
        while True:
            if job.latest[0] != version:
                version, frame = job.latest
                new, sent = job.history[sent : frame["epochs"]], frame["epochs"]
                count = frame.get("traced", 0)
                trace, traced = job.trace[traced:count], count  # every point once, none lost
                payload = orjson.dumps(frame | {"records": records(new), "trace": trace})
                yield b"data: " + payload + b"\n\n"
                if frame["state"] in OVER:  # the job's last frame
                    return
            await asyncio.sleep(POLL_S)
    finally:
        job.watched -= 1
        if not job.over:
            job.command("stop")
            gone()
