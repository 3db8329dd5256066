"""The FastAPI application: the page, POST /api/predict, GET /api/models, GET /healthz.

The predict route reads the raw body and parses it with orjson rather than declaring a pydantic
model: validating 784 floats one by one would cost more than the network's forward pass. Its request
and response are still described in the OpenAPI schema (/openapi.json), which FastAPI serves
(`firstnet.serve.openapi`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from firstnet.data.datasets import DATASETS
from firstnet.serve import registry
from firstnet.serve.batching import Batcher
from firstnet.serve.inputs import (
    MAX_BODY_BYTES,
    BadRequest,
    array_from_json,
    image_from_bytes,
    model_input,
    parse_json,
)
from firstnet.serve.openapi import add_predict_schema
from firstnet.serve.priority import Foreground
from firstnet.serve.registry import ServedModel
from firstnet.version import __version__

STATIC = Path(__file__).parent / "static"
ACCEPTED = 'application/json, image/png or multipart/form-data (a PNG in the field "image")'
# Every answer of `firstnet serve` carries these (uvicorn.Config(headers=...): its own 400 and 503
# too). The page runs only its own script and style files and loads nothing from elsewhere; no page
# of another site may frame it; no type sniffing; no Referer sent from it.
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "object-src 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]
log = logging.getLogger("firstnet.serve")


def json_response(payload, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status,
        media_type="application/json",
    )


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class BodyLimit:
    """Pure ASGI middleware: a 413 for a body over `limit` bytes, decided without reading more than
    that.

    A declared Content-Length over the limit is refused before any of the body is read; a chunked
    body is counted as it arrives and refused as soon as it passes the limit, unless the answer has
    started: a route that answers without reading the body (a static file) only listens for the
    client's leaving meanwhile, and a 413 could no longer be sent.
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            return await error(400, "the Content-Length header is not a number")(
                scope, receive, send
            )
        if declared is not None and int(declared) > self.limit:
            return await error(413, self.too_large(declared.decode()))(scope, receive, send)
        received, answering = 0, False

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit and not answering:
                raise BadRequest(413, self.too_large(f"over {received}"))
            return message

        async def watched_send(message) -> None:
            nonlocal answering
            answering = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)

    def too_large(self, size: str) -> str:
        return f"the request body ({size} bytes) is over the limit of {self.limit:,} bytes"


# Decoding an upload and making it MNIST-like are the server's image work: about a millisecond for
# the page's drawing, a few hundred for a large upload. All of it runs in a one-thread pool that
# `create_app` makes (app.state.decoders), never on the event loop, so /healthz and the other
# requests keep their answers coming whatever is uploaded; one thread bounds the memory (a 2048x2048
# upload needs about 100 MB while it is decoded). Work whose client has gone is dropped unstarted.


async def off_loop(request: Request, function, *args):
    """`function(*args)` in the app's image pool, awaited; dropped before it starts if the client
    has gone meanwhile (the body is read, so the next message from the client is its leaving)."""
    gone = threading.Event()

    async def watch() -> None:  # one message: the client's leaving, or nothing to watch for
        if (await request.receive())["type"] == "http.disconnect":
            gone.set()

    watcher = asyncio.create_task(watch())
    try:
        pool = request.app.state.decoders
        return await asyncio.get_running_loop().run_in_executor(
            pool, unless_gone, gone, function, *args
        )
    finally:
        watcher.cancel()


def unless_gone(gone: threading.Event, function, *args):
    if gone.is_set():
        raise BadRequest(499, "the client closed the connection before its image was read")
    return function(*args)


async def prepare(
    request: Request, gray: np.ndarray, preprocess: bool | None
) -> tuple[np.ndarray, bool]:
    """`model_input`: in the image pool, unless it is a 28x28 image taken as it is."""
    if gray.shape == (28, 28) and preprocess is not True:
        return model_input(gray, preprocess)
    return await off_loop(request, model_input, gray, preprocess)


class SameSite:
    """Pure ASGI middleware against other sites in the user's browser.

    DNS rebinding: a request whose Host header is not one of `hosts` gets a 400 (None: any host,
    for --host 0.0.0.0, where the names the server is reached by are not known). Cross-site POSTs: a
    POST whose Origin is not the server's own gets a 403, so a page on another site cannot make the
    browser post to the local server (a multipart form needs no CORS preflight).
    """

    def __init__(self, app, hosts: set[str] | None = None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if self.hosts is not None and host_name(host) not in self.hosts:
            return await error(400, f"unexpected Host header {host!r}")(scope, receive, send)
        origin = headers.get(b"origin")
        foreign = origin is not None and urlsplit(origin.decode("latin-1")).netloc != host
        if scope["method"] == "POST" and foreign:
            message = "cross-origin requests are refused: use the page this server serves"
            return await error(403, message)(scope, receive, send)
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """The name part of a Host header ("127.0.0.1:8000" -> "127.0.0.1", "[::1]:80" -> "::1")."""
    if host.startswith("["):
        return host[1 : host.find("]")].lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}


def allowed_hosts(bound: str) -> set[str] | None:
    """The Host names a server bound to `bound` answers: loopback names, or any for a wildcard."""
    if bound in ("0.0.0.0", "::", ""):
        return None
    return LOCAL_NAMES | {bound.strip("[]").lower()}


INLINE_JSON_BYTES = 16_384


def json_image(body: bytes, wanted: str | None) -> tuple[np.ndarray, str | None, bool | None]:
    """The image, model and "preprocess" wish of a JSON predict request."""
    payload = parse_json(body)
    image = array_from_json(payload["image"])
    return image, payload.get("model") or wanted, payload.get("preprocess")


async def read_image(request: Request) -> tuple[np.ndarray, str | None, bool | None]:
    """The grayscale image of a predict request, the model it names and its "preprocess" wish."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    wanted = request.query_params.get("model")
    if media_type == "application/json":
        body = await request.body()  # a 28x28 array is about 5 kB; larger ones parse in the pool
        if len(body) > INLINE_JSON_BYTES:
            return await off_loop(request, json_image, body, wanted)
        return json_image(body, wanted)
    if media_type == "image/png":
        return await off_loop(request, image_from_bytes, await request.body()), wanted, None
    if media_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=4) as form:
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise BadRequest(422, 'the multipart form has no file in the field "image"')
            model = form.get("model")
            return (
                await off_loop(request, image_from_bytes, await upload.read()),
                model if isinstance(model, str) else wanted,
                None,
            )
    shown = media_type or "none"
    raise BadRequest(415, f"unsupported content type {shown!r}; send {ACCEPTED}")


def add_routes(app: FastAPI, models: list[ServedModel]) -> None:
    page = (STATIC / "index.html").read_text()
    batcher = Batcher()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", summary="liveness: ok and the number of models")
    async def healthz() -> Response:
        return json_response({"status": "ok", "models": len(models), "version": __version__})

    @app.get("/api/models", summary="the models served, the default first")
    async def list_models() -> Response:
        default = registry.pick(models, None).name if models else None
        return json_response({"default": default, "models": [model.describe() for model in models]})

    # A plain Starlette route: FastAPI's per-request dependency machinery would cost about a fifth
    # of the server's time per prediction, for nothing this handler uses. `add_predict_schema`
    # documents it.
    async def predict(request: Request) -> Response:
        with request.app.state.foreground.held():  # a lab job's training waits meanwhile
            return await answer(request)

    async def answer(request: Request) -> Response:
        gray, wanted, preprocess = await read_image(request)
        if not models:
            raise BadRequest(503, f"no trained model is served yet; {registry.TRAIN_HINT}")
        try:
            served = registry.pick(models, wanted)
        except KeyError:
            names = ", ".join(sorted({m.kind for m in models} | {m.name for m in models}))
            raise BadRequest(422, f"model {wanted!r} is not served; choose from {names}") from None
        image, preprocessed = await prepare(request, gray, preprocess)
        result = await batcher.predict(served, image)
        return json_response(
            {
                "model": served.name,
                "kind": served.kind,
                **result,
                "label": DATASETS[served.cfg.dataset].classes[result["class"]],
                "image": image.round(3),
                "preprocessed": preprocessed,
            }
        )

    app.add_route("/api/predict", predict, methods=["POST"])


def add_error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"error": "..."}."""

    @app.exception_handler(BadRequest)
    async def bad_request(_request: Request, exc: BadRequest) -> Response:
        return error(exc.status, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(_request: Request, _exc: ClientDisconnect) -> Response:
        return error(499, "the client closed the connection before its request was read")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        return error(422, "; ".join(str(e.get("msg")) for e in exc.errors()) or "invalid request")

    @app.exception_handler(Exception)
    async def bug(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error(500, f"internal error ({type(exc).__name__}); please report it")


def create_app(models: list[ServedModel], hosts: set[str] | None = LOCAL_NAMES) -> FastAPI:
    """The application over already loaded models (load them with `registry.load_all`; none: the
    page says so and a prediction is a 503), answering requests addressed to `hosts` (None: any; see
    `allowed_hosts`)."""
    decoders = ThreadPoolExecutor(max_workers=1, thread_name_prefix="firstnet-decode")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        decoders.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        lifespan=lifespan,
        title="firstnet",
        version=__version__,
        description="Draw a digit, watch the network answer: predictions of trained firstnet runs.",
        # Swagger UI and ReDoc load scripts from a CDN: no third-party code on a local page and
        # nothing that breaks offline. The schema stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.decoders = decoders
    app.state.foreground = Foreground()
    add_routes(app, models)
    add_predict_schema(app)
    add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit)
    app.add_middleware(SameSite, hosts=hosts)
    return app
