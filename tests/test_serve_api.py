"""The serve API in-process: every endpoint, every kind of bad input (each followed by a good
request), start-up."""

from __future__ import annotations

import asyncio
import io
import json
import os

import numpy as np
import orjson
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from firstnet import runs
from firstnet.cli import main
from firstnet.cli.cmd_serve import bind
from firstnet.errors import ImageError, ServeError
from firstnet.evaluate import probabilities
from firstnet.preprocess import load_image, mnist_like
from firstnet.serve import batching
from firstnet.serve.app import allowed_hosts, create_app
from firstnet.serve.registry import (
    load_all,
    load_served,
    newest_of_each_kind,
    predict,
    predict_batch,
)
from tests.damaged_pictures import garbled_png
from tests.run_dirs import hostile_runs, untrained_run

JSON, PNG = "application/json", "image/png"


@pytest.fixture(scope="module")
def models(default_mlp_run, tmp_path_factory):
    extra = tmp_path_factory.mktemp("serve-extra")
    return [
        load_served(default_mlp_run),
        load_served(untrained_run(extra, "lin", "linear")),
        load_served(untrained_run(extra, "conv", "cnn")),
    ]


@pytest.fixture(scope="module")
def client(models):
    return TestClient(create_app(models), base_url="http://localhost")


def png_bytes(gray_uint8: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gray_uint8).save(buffer, "PNG")
    return buffer.getvalue()


def canvas_png(mnist, index: int) -> bytes:
    """A test digit as a user draws it: dark ink on white, 280x280."""
    image = Image.fromarray(255 - mnist.test_images[index]).resize(
        (280, 280), Image.Resampling.BILINEAR
    )
    return png_bytes(np.asarray(image))


def good_request(client, mnist) -> None:
    """The server still answers a well-formed request correctly."""
    response = client.post("/api/predict", json={"image": (mnist.test_images[0] / 255).tolist()})
    assert response.status_code == 200, response.text
    assert response.json()["class"] == int(mnist.test_labels[0])


def test_healthz(client):
    response = client.get("/healthz")
    assert (
        response.status_code == 200
        and response.json()["status"] == "ok"
        and response.json()["models"] == 3
    )


def test_models_lists_every_run_and_defaults_to_the_mlp(client, default_mlp_run):
    answer = client.get("/api/models").json()
    assert answer["default"] == "mlp"
    kinds = {model["kind"]: model for model in answer["models"]}
    assert set(kinds) == {"mlp", "linear", "cnn"}
    assert (
        kinds["mlp"]["has_hidden"]
        and not kinds["linear"]["has_hidden"]
        and not kinds["cnn"]["has_hidden"]
    )
    assert kinds["mlp"]["test_acc"] == pytest.approx(
        runs.read_metrics(default_mlp_run)[-1]["test_acc"]
    )
    assert kinds["mlp"]["hidden"] == 256 and kinds["mlp"]["depth"] == 2


def test_page_static_files_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="pad"' in page.text and "/static/app.js" in page.text and "https://" not in page.text
    for name, kind in (
        ("app.js", "javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"], name
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/models", "/healthz"} <= schema["paths"].keys()
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "image/png", "multipart/form-data"} <= body.keys()


def test_predict_json_28x28_is_taken_as_mnist_like(client, mnist):
    correct = 0
    for index in range(20):
        image = mnist.test_images[index] / 255
        answer = client.post("/api/predict", json={"image": image.tolist()}).json()
        assert (
            answer["class"] == int(np.argmax(answer["probabilities"]))
            and not answer["preprocessed"]
        )
        assert sum(answer["probabilities"]) == pytest.approx(1, abs=1e-5)
        assert np.allclose(answer["image"], image, atol=1e-3)  # no preprocessing: the image as sent
        assert [len(layer) for layer in answer["hidden"]] == [256, 256] and min(
            map(min, answer["hidden"])
        ) >= 0
        assert answer["model"] == "mlp" and answer["kind"] == "mlp"
        correct += answer["class"] == int(mnist.test_labels[index])
    assert correct >= 19


def test_concurrent_requests_share_one_forward_pass_and_match_runs_probabilities(
    models, mnist, monkeypatch
):
    """The batcher answers each request with its own image's prediction, equal to
    `firstnet.evaluate.probabilities`."""
    mlp, sizes = models[0], []
    monkeypatch.setattr(
        batching, "predict_batch", lambda *a: sizes.append(len(a[1])) or predict_batch(*a)
    )
    images = (mnist.test_images[:50] / 255).astype(np.float32)
    expected = probabilities(mlp.cfg, mlp.model, torch.from_numpy(images)[:, None]).numpy()

    async def ask_all():
        batcher = batching.Batcher()
        return await asyncio.gather(*(batcher.predict(mlp, image) for image in images))

    answers = asyncio.run(ask_all())
    assert sizes == [50]
    for answer, want, image in zip(answers, expected, images, strict=True):
        assert (
            np.allclose(answer["probabilities"], want, atol=1e-6)
            and answer["class"] == want.argmax()
        )
        assert np.allclose(answer["hidden"][0], predict(mlp, image)["hidden"][0], atol=1e-4)


def test_a_failing_batch_fails_each_of_its_requests(models, monkeypatch):
    monkeypatch.setattr(batching, "predict_batch", lambda *a: 1 / 0)

    async def ask_two():
        batcher = batching.Batcher()
        image = np.zeros((28, 28), dtype=np.float32)
        return await asyncio.gather(
            *(batcher.predict(models[0], image) for _ in range(2)), return_exceptions=True
        )

    assert [type(answer) for answer in asyncio.run(ask_two())] == [ZeroDivisionError] * 2


def test_predict_png_body_and_multipart_use_mnist_preprocessing(client, mnist):
    correct = 0
    for index in range(20):
        response = client.post(
            "/api/predict", content=canvas_png(mnist, index), headers={"content-type": "image/png"}
        )
        answer = response.json()
        assert response.status_code == 200 and answer["preprocessed"]
        assert np.array(answer["image"]).shape == (28, 28)
        correct += answer["class"] == int(mnist.test_labels[index])
    assert correct >= 18
    files = {"image": ("seven.png", canvas_png(mnist, 0), "image/png")}
    answer = client.post("/api/predict", files=files, data={"model": "linear"}).json()
    assert (
        answer["kind"] == "linear"
        and answer["hidden"] is None
        and len(answer["probabilities"]) == 10
    )


def test_canvas_sized_json_goes_through_mnist_like(client, mnist):
    canvas = (
        np.asarray(Image.fromarray(mnist.test_images[3]).resize((140, 140)), dtype=np.float32) / 255
    )
    answer = client.post("/api/predict", json={"image": canvas.tolist()}).json()
    assert answer["preprocessed"] and np.allclose(answer["image"], mnist_like(canvas), atol=1e-3)
    small = mnist.test_images[3] / 255  # a 28x28 that asks for preprocessing gets it
    answer = client.post("/api/predict", json={"image": small.tolist(), "preprocess": True}).json()
    assert answer["preprocessed"] and np.allclose(answer["image"], mnist_like(small), atol=1e-3)


def test_model_chosen_by_kind_name_or_query(client, mnist):
    image = (mnist.test_images[0] / 255).tolist()
    assert (
        client.post("/api/predict", json={"image": image, "model": "cnn"}).json()["kind"] == "cnn"
    )
    assert (
        client.post("/api/predict", json={"image": image, "model": "lin"}).json()["kind"]
        == "linear"
    )
    response = client.post(
        "/api/predict?model=conv", content=canvas_png(mnist, 0), headers={"content-type": PNG}
    )
    assert response.json()["model"] == "conv" and response.json()["hidden"] is None


def corrupt_png(mnist) -> bytes:
    data = bytearray(canvas_png(mnist, 0))
    data[60:90] = bytes(30)  # inside the compressed pixel data
    return bytes(data)


def huge_png() -> bytes:
    return png_bytes(np.zeros((5000, 10), dtype=np.uint8))


ZEROS = np.zeros((28, 28)).tolist()
BAD_INPUTS = {  # name: (content type, body, expected status, words of the error)
    "wrong content type": ("text/plain", b"7", 415, "unsupported content type 'text/plain'"),
    "no content type": (None, b"7", 415, "unsupported content type 'none'"),
    "form without a file": (
        "application/x-www-form-urlencoded",
        b"image=7",
        415,
        "unsupported content type",
    ),
    "multipart without boundary": (
        "multipart/form-data",
        b"7",
        400,
        "Missing boundary in multipart",
    ),
    "undecodable image": (PNG, b"this is not a png", 400, "cannot decode the image"),
    "truncated png": (PNG, "truncated", 400, "cannot decode the image"),
    "corrupt png": (PNG, "corrupt", 400, "cannot decode the image"),
    "garbled png chunk": (PNG, "garbled", 400, "cannot decode the image"),
    "empty png body": (PNG, b"", 400, "the image upload is empty"),
    "png too many pixels": (PNG, "huge", 422, "at most 2048 per side"),
    "invalid json": (JSON, b'{"image": [[0.1, 0.2]', 400, "not valid JSON"),
    "json without image": (JSON, b'{"picture": []}', 422, 'JSON object with an "image" field'),
    "json array, not object": (JSON, b"[[0.5]]", 422, 'JSON object with an "image" field'),
    "flat 784 array": (JSON, {"image": [0.5] * 784}, 422, "image must be a 2-D array"),
    "ragged rows": (JSON, {"image": [[0.5] * 28, [0.5] * 27]}, 422, "rows of equal length"),
    "three dimensions": (JSON, {"image": [[[0.5]] * 28] * 28}, 422, "got shape [28, 28, 1]"),
    "empty array": (JSON, {"image": []}, 422, "got shape [0]"),
    "strings": (JSON, {"image": [["a"] * 28] * 28}, 422, "array of numbers"),
    "NaN": (JSON, b'{"image": [[NaN, 0.5], [0.5, 0.5]]}', 422, "non-finite values"),
    "Infinity": (JSON, b'{"image": [[Infinity, 0.5], [0.5, 0.5]]}', 422, "non-finite values"),
    "overflow to infinity": (
        JSON,
        b'{"image": [[1e999, 0.5], [0.5, 0.5]]}',
        422,
        "non-finite values",
    ),
    "0-255 values": (JSON, {"image": [[255] * 28] * 28}, 422, "must lie in [0, 1]"),
    "empty 28x28": (JSON, {"image": ZEROS}, 422, "the image is empty"),
    "empty canvas json": (
        JSON,
        {"image": np.zeros((200, 200)).tolist()},
        422,
        "the image is empty",
    ),
    "empty canvas png": (
        PNG,
        png_bytes(np.full((280, 280), 255, dtype=np.uint8)),
        422,
        "the image is empty",
    ),
    "unknown model": (
        JSON,
        {"image": ZEROS, "model": "resnet"},
        422,
        "model 'resnet' is not served",
    ),
    "model not a string": (JSON, {"image": ZEROS, "model": 3}, 422, '"model" must be a string'),
    "preprocess not a bool": (
        JSON,
        {"image": ZEROS, "preprocess": "yes"},
        422,
        '"preprocess" must be a boolean',
    ),
    "unprocessed canvas": (
        JSON,
        {"image": [[0.5] * 30] * 30, "preprocess": False},
        422,
        "needs a 28x28 image",
    ),
    "declared body over 1 MB": (JSON, b"0" * 1_000_001, 413, "over the limit of 1,000,000 bytes"),
    "streamed body over 1 MB": (JSON, "stream", 413, "over the limit of 1,000,000 bytes"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_a_4xx_with_a_json_error_and_the_server_goes_on(client, mnist, name):
    content_type, body, status, words = BAD_INPUTS[name]
    special = {
        "truncated": lambda: canvas_png(mnist, 0)[:200],
        "corrupt": lambda: corrupt_png(mnist),
        "huge": huge_png,
        "garbled": garbled_png,
        "stream": lambda: iter([b"0" * 600_000, b"0" * 600_000]),
    }
    if isinstance(body, str):
        body = special[body]()
    elif isinstance(body, dict):
        body = json.dumps(body).encode()
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/api/predict", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert (
        response.headers["content-type"] == "application/json" and words in response.json()["error"]
    )
    good_request(client, mnist)


def test_multipart_without_an_image_field(client, mnist):
    response = client.post(
        "/api/predict", files={"picture": ("a.png", canvas_png(mnist, 0), "image/png")}
    )
    assert (
        response.status_code == 422 and 'no file in the field "image"' in response.json()["error"]
    )
    good_request(client, mnist)


def test_damaged_pngs_never_cause_a_server_error(client, mnist):
    valid = canvas_png(mnist, 1)
    generator = np.random.default_rng(0)
    for _ in range(40):
        damaged = bytearray(valid)
        # keep the signature, break the rest
        for position in generator.integers(8, len(valid), size=4):
            damaged[position] = int(generator.integers(0, 256))
        response = client.post(
            "/api/predict", content=bytes(damaged), headers={"content-type": PNG}
        )
        assert response.status_code in (200, 400, 422), response.text
    good_request(client, mnist)


def test_unknown_path_and_method_are_json_errors(client, mnist):
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    response = client.get("/api/predict")
    assert response.status_code == 405 and "error" in response.json()
    good_request(client, mnist)


def test_serve_without_runs_says_how_to_train_one(tmp_path, capsys):
    assert main(["serve", "--runs-dir", str(tmp_path)]) == 2
    assert "train one with: firstnet train --model mlp" in capsys.readouterr().err


def test_a_broken_run_is_reported_at_start_up(default_mlp_run, tmp_path, capsys):
    broken = untrained_run(tmp_path, "broken", "mlp")
    (broken / runs.MODEL).write_bytes(b"not safetensors")
    assert main(["serve", str(broken)]) == 2
    err = capsys.readouterr().err
    assert (
        "none of the runs given can be served" in err and "not a readable safetensors file" in err
    )
    # the only run is broken: nothing to serve
    with pytest.raises(ServeError, match="no finished run"):
        newest_of_each_kind(tmp_path)


def test_newest_run_of_each_kind_is_served_and_a_broken_one_skipped(tmp_path):
    import os

    for age, (name, kind) in enumerate(
        [("old-mlp", "mlp"), ("new-mlp", "mlp"), ("lin", "linear"), ("bad", "mlp")]
    ):
        run_dir = untrained_run(tmp_path, name, kind)
        os.utime(run_dir / runs.MODEL, (1_000_000 + age, 1_000_000 + age))
    (tmp_path / "bad" / runs.MODEL).write_bytes(b"broken")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / runs.CONFIG).write_text("{}")
    models, warnings = load_all([], tmp_path)
    assert [(model.kind, model.name) for model in models] == [("linear", "lin"), ("mlp", "new-mlp")]
    assert (
        len(warnings) == 1 and "bad" in warnings[0] and "not a readable safetensors" in warnings[0]
    )


def test_a_taken_port_is_a_clear_error():
    first = bind("127.0.0.1", 0)
    try:
        with pytest.raises(ServeError, match="pick another --port"):
            bind("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()


def encoded(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def other_formats(mnist) -> dict[str, bytes]:
    """A test digit in every format but PNG that Pillow can write; EPS is what Ghostscript runs."""
    digit = Image.fromarray(255 - mnist.test_images[0]).resize((140, 140))
    return {kind: encoded(digit, kind) for kind in ("EPS", "BMP", "GIF", "TIFF", "WEBP")}


@pytest.fixture
def sentinel_gs(tmp_path, monkeypatch):
    """A `gs` first on PATH that leaves a file behind if anything runs it."""
    ran = tmp_path / "gs-ran"
    script = tmp_path / "bin" / "gs"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\ntouch {ran}\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    return ran


def test_only_png_is_decoded_and_ghostscript_never_runs(client, mnist, other_formats, sentinel_gs):
    assert other_formats["EPS"].startswith(b"%!PS-Adobe")
    for kind, body in other_formats.items():
        as_png = client.post("/api/predict", content=body, headers={"content-type": PNG})
        files = {"image": (f"digit.{kind.lower()}", body, "image/png")}
        as_form = client.post("/api/predict", files=files)
        for response in (as_png, as_form):
            assert response.status_code == 400, (kind, response.text)
            assert "not a PNG" in response.json()["error"], kind
    assert not sentinel_gs.exists()
    good_request(client, mnist)


def test_predict_reads_pictures_but_not_postscript(mnist, other_formats, sentinel_gs, tmp_path):
    for kind, body in other_formats.items():
        (tmp_path / f"digit.{kind.lower()}").write_bytes(body)
    for kind in ("BMP", "GIF", "TIFF", "WEBP"):
        assert load_image(tmp_path / f"digit.{kind.lower()}").shape == (140, 140), kind
    with pytest.raises(ImageError, match="not one of PNG, JPEG"):
        load_image(tmp_path / "digit.eps")
    assert not sentinel_gs.exists()


def test_a_lone_surrogate_is_invalid_json_not_a_non_finite_value(client, mnist):
    body = b'{"image": [[0.5, 0.5]], "model": "\\ud800"}'
    with pytest.raises(ValueError):
        orjson.loads(body)
    assert json.loads(body)["model"] == "\ud800"  # Python's parser takes it; the server must not
    response = client.post("/api/predict", content=body, headers={"content-type": JSON})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    good_request(client, mnist)


def test_other_hosts_and_other_origins_are_refused(client, models, mnist):
    assert client.get("/api/models", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/healthz", headers={"host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/healthz", headers={"host": "[::1]:8000"}).status_code == 200
    image = {"image": (mnist.test_images[0] / 255).tolist()}
    foreign = client.post("/api/predict", json=image, headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["error"]
    own = client.post("/api/predict", json=image, headers={"origin": "http://localhost"})
    assert own.status_code == 200
    anywhere = TestClient(create_app(models, hosts=allowed_hosts("0.0.0.0")))
    assert anywhere.get("/healthz", headers={"host": "my-laptop.lan:8000"}).status_code == 200
    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}


def test_models_list_names_runs_without_paths_and_no_cdn_docs(client, default_mlp_run):
    text = client.get("/api/models").text
    assert default_mlp_run.name in text and str(default_mlp_run.parent) not in text
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]


def test_hostile_runs_are_skipped_by_name_and_the_good_ones_served(tmp_path, mnist):
    cases = hostile_runs(tmp_path)
    good = [
        untrained_run(tmp_path, "good-mlp", "mlp"),
        untrained_run(tmp_path, "good-lin", "linear"),
    ]
    models, warnings = load_all([tmp_path / name for name in cases] + good, tmp_path)
    served = {model.name for model in models}
    assert served == {"good-mlp", "good-lin", "fp16-on-cuda"}
    for name, words in cases.items():
        if words:
            (warning,) = [w for w in warnings if f"/{name}:" in w]
            assert words in warning, warning
    client = TestClient(create_app(models), base_url="http://localhost")
    image = {"image": (mnist.test_images[0] / 255).tolist(), "model": "fp16-on-cuda"}
    assert client.post("/api/predict", json=image).status_code == 200


def test_a_runs_folder_of_hostile_runs_newer_than_the_good_ones(tmp_path):
    """The automatic mode tries the newest run of a kind first: each hostile run in its way is named
    with its reason and skipped, and the newest run that loads is served."""
    cases = hostile_runs(tmp_path)
    untrained_run(tmp_path, "good-mlp", "mlp")
    order = ["good-mlp", "fp16-on-cuda"] + [name for name in cases if name != "fp16-on-cuda"]
    for age, name in enumerate(order):  # later in the list: newer
        os.utime(tmp_path / name / runs.MODEL, (1_000_000 + age, 1_000_000 + age))
    models, warnings = newest_of_each_kind(tmp_path)
    assert [model.name for model in models] == ["fp16-on-cuda"]
    for name, words in cases.items():
        if words:
            (warning,) = [w for w in warnings if f"/{name}:" in w]
            assert words in warning, warning
