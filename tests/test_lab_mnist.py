"""The lab's MNIST and gradient panels: the MNIST job (the one train_run, paused and stepped
between batches), its settings and command, its pad and "teach it", save as run; the gradient
panel's paths against `firstnet plot landscape`'s; the page in Chromium, and its URL on a fresh
server."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from firstnet import runs
from firstnet.cli import main
from firstnet.config import TrainConfig
from firstnet.errors import ConfigError
from firstnet.figures.loss_slice import mnist_loss_slices
from firstnet.figures.loss_surface import gradient_intuition
from firstnet.lab import gradient, teach
from firstnet.lab.job import NICE
from firstnet.lab.mnist import Busy, MnistJob, lab_config
from firstnet.lab.routes import UNWATCHED_S, add_lab
from firstnet.scratch.mlp import from_torch_names, loss_and_gradients, normalise
from firstnet.serve.app import create_app
from firstnet.serve.priority import Foreground
from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_browser, sync_playwright, wait_for
from tests.serve_probe import lab_server, post
from tests.strokes import draw, strokes_of

SMALL_MLP = {"model": "mlp", "hidden": 32, "epochs": 2, "train_limit": 4000, "lr": 0.1,
             "precision": "fp32", "seed": 3}  # fmt: skip


def finished(job: MnistJob, seconds: float = 120) -> None:
    job.thread.join(seconds)
    assert not job.thread.is_alive() and job.over


@pytest.mark.parametrize(
    "values, words",
    [
        ({"hiden": 8}, "unknown config fields: hiden (did you mean hidden?)"),
        ({"device": "cuda"}, "the lab does not set device; firstnet train does"),
        ({"model": "cnn", "hidden": 64}, "hidden does not apply to the cnn model"),
        ({"epochs": 31}, "epochs must lie in [1, 30] in the lab"),
        ({"hidden": 2048}, "hidden must lie in [1, 1024] in the lab"),
        ({"lr": -1.0}, "lr must be positive"),
        ({"epochs": "3"}, "epochs: expected a float, got '3'"),
        ({"optimizer": "adamm"}, "did you mean 'adam'?"),
        ({"momentum": -0.5}, "momentum must lie in [0.0, 0.999]"),
        ({"weight_decay": -1.0}, "weight_decay must lie in [0.0, 1.0]"),
        ({"model": "cnn", "batch_size": 1024}, "batch_size must lie in [1, 512]"),
        ({"precision": "fp16", "device": "cpu"}, "the lab does not set device"),
        ([1], "must be a JSON object"),
    ],
)
def test_a_bad_mnist_setting_is_one_clear_error_naming_it(values, words):
    with pytest.raises(ConfigError) as error:
        lab_config(values)
    assert words in str(error.value)


def test_the_command_a_job_shows_trains_the_same_losses_stepped_or_not(mnist, tmp_path, capsys):
    """Three single steps, then play: the run "save as run" writes is the run of the command the
    page shows, epoch for epoch, on the CPU in fp32; `firstnet runs` lists it and `firstnet eval`
    gives its last accuracy."""
    cfg = lab_config(SMALL_MLP)
    yielded = []
    job = MnistJob(cfg, mnist, yield_to=lambda: yielded.append(job.steps))
    for _ in range(3):
        job.command("step")
        while job.steps < 1 + _ and job.thread.is_alive():
            time.sleep(0.01)
    job.command("play")
    finished(job)
    assert job.state == "done" and job.steps == job.total_steps == 2 * 16
    assert yielded == list(range(32))  # the server's requests could go first before every step
    saved = job.save(tmp_path / "runs")
    command = saved["command"]
    assert command == ("firstnet train --model mlp --hidden 32 --epochs 2 --lr 0.1 "
                       "--precision fp32 --seed 3 --train-limit 4000")  # fmt: skip
    assert main([*command.split()[1:], "--runs-dir", str(tmp_path / "cli"), "--name", "cli"]) == 0
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
    lab = [{key: record[key] for key in keys} for record in runs.read_metrics(saved["run"])]
    cli = [{key: record[key] for key in keys} for record in runs.read_metrics(tmp_path / "cli/cli")]
    assert lab == cli and len(lab) == 2
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in listed] == [saved["run"].rsplit("/", 1)[1]]
    assert main(["eval", saved["run"], "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == pytest.approx(lab[-1]["test_acc"], abs=1e-6)


def test_slow_motion_draws_a_frame_for_every_step(mnist):
    """The first hundred steps can be watched: in slow motion every step has its frame (each
    frame the job publishes is recorded, so no reader's speed matters)."""
    job = MnistJob(lab_config(SMALL_MLP), mnist)
    published, publish = [], job.publish

    def recorded(frame: dict) -> None:
        published.append(frame)
        publish(frame)

    job.publish = recorded
    job.command("slow")
    job.command("play")
    deadline = time.monotonic() + 60
    while not [frame for frame in published if frame["step"] >= 4]:
        assert time.monotonic() < deadline, [frame["step"] for frame in published]
        time.sleep(0.01)
    job.command("stop")
    finished(job)
    slow = [frame["step"] for frame in published if frame["slow"] and frame["state"] == "playing"]
    assert slow[:4] == list(range(slow[0], slow[0] + 4)), slow  # one step a frame, none skipped


def test_the_confusion_matrix_and_the_frames_follow_the_training(mnist):
    job = MnistJob(lab_config(SMALL_MLP | {"epochs": 1}), mnist)
    job.command("play")
    finished(job)
    frame = job.frame
    matrix = np.array(frame["confusion"])
    assert matrix.shape == (10, 10) and matrix.sum() == len(mnist.test_labels)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(job.history[-1]["test_acc"], abs=1e-6)
    assert frame["weights"] and frame["weight_count"] == 32 and frame["step"] == 16


def test_teaching_one_drawing_takes_the_gradients_of_the_numpy_twin(mnist):
    """The gradients of W1, W2, W3 (and the biases) for one example are `backward` of
    firstnet.scratch's hand-derived MLP; one step on them raises the label's probability."""
    job = MnistJob(lab_config(SMALL_MLP | {"epochs": 1}), mnist)  # never played: initial weights
    image, label = mnist.test_images[0].astype(np.float32) / 255, 3
    model = job.model
    found = teach.gradients(model, image, label)
    state = {name: value.detach().numpy() for name, value in model.state_dict().items()}
    params = from_torch_names(state)
    loss, twin = loss_and_gradients(params, normalise(image[None]), np.array([label]), "relu")
    assert found["loss"] == pytest.approx(loss, rel=1e-5)
    for index, (weights, bias) in enumerate(zip(found["weights"], found["biases"], strict=True)):
        layer = index + 1
        np.testing.assert_allclose(weights.numpy(), twin[f"W{layer}"], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(bias.numpy(), twin[f"b{layer}"], rtol=1e-4, atol=1e-7)
    first = job.teach(image, label, lr=0.001, step=False)
    stepped = job.teach(image, label, lr=0.001, step=True)
    assert [layer["name"] for layer in first["layers"]] == ["W1", "W2", "W3"]
    assert first["layers"][0]["shape"] == [32, 784] and first["layers"][0]["tiles"]
    assert stepped["taught_steps"] == 1 and stepped["loss"] < first["loss"]
    assert stepped["probabilities"][label] > first["probabilities"][label]
    assert job.predict(image)["taught"]  # the pad answers with the taught copy ...
    assert np.array_equal(model.out.weight.detach().numpy(), state["out.weight"])  # ... not this
    job.command("forget")
    assert not job.predict(image)["taught"]
    job.command("stop")


def test_the_pad_waits_for_a_pause_and_the_cnn_cannot_be_taught(mnist):
    job = MnistJob(lab_config({"model": "mlp", "epochs": 3, "precision": "fp32"}), mnist)
    image = mnist.test_images[0].astype(np.float32) / 255
    job.command("play")
    if sys.platform.startswith("linux"):  # the training yields the cores to the server's answers
        while job.native_id is None:
            time.sleep(0.01)
        assert os.getpriority(os.PRIO_PROCESS, job.native_id) == NICE
    with pytest.raises(Busy, match="pause it"):
        job.predict(image)
    job.command("stop")
    finished(job)
    assert job.state == "stopped" and job.predict(image)["class"] in range(10)
    cnn = MnistJob(lab_config({"model": "cnn", "epochs": 1}), mnist)
    with pytest.raises(ConfigError, match="for the linear model and the MLP"):
        cnn.teach(image, 7, lr=0.01, step=False)
    assert not cnn.predict(image)["taught"]  # nothing was copied
    cnn.command("stop")


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 runs on a CUDA GPU")
def test_a_precision_the_machine_lacks_is_refused_before_the_job_starts():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        lab_config({"precision": "fp16"})


def test_two_quick_steps_show_the_second_and_a_failure_ends_the_job_with_its_message(
    mnist, monkeypatch
):
    job = MnistJob(lab_config(SMALL_MLP), mnist)
    job.command("step")
    job.command("step")
    deadline = time.monotonic() + 60
    while job.frame["step"] != 2:  # the frame of the paused job shows where it stopped
        assert time.monotonic() < deadline, job.frame["step"]
        time.sleep(0.01)
    job.command("stop")
    finished(job)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr("firstnet.lab.mnist.train_run", broken)
    failed = MnistJob(lab_config(SMALL_MLP), mnist)
    finished(failed)
    assert failed.state == "stopped" and failed.frame["state"] == "stopped"
    assert failed.error == "the training failed: RuntimeError: out of memory, say"
    with pytest.raises(ConfigError, match="nothing to save yet"):
        failed.save(Path(tempfile.mkdtemp()))


def test_the_training_waits_for_the_drawing_pages_requests_but_not_for_ever(monkeypatch):
    foreground = Foreground()
    monkeypatch.setattr("firstnet.serve.priority.MAX_WAIT_S", 600.0)  # only the release ends it
    returned = threading.Event()
    with foreground.held():  # a request at work
        waiting = threading.Thread(target=lambda: (foreground.wait_idle(), returned.set()))
        waiting.start()
        assert not returned.wait(0.05)  # still waiting, however slow the machine
    assert returned.wait(10)  # the request done: the training goes on
    monkeypatch.setattr("firstnet.serve.priority.MAX_WAIT_S", 0.01)
    stuck = threading.Event()
    with foreground.held():  # a request that never ends holds each step up only so long
        threading.Thread(target=lambda: (foreground.wait_idle(), stuck.set())).start()
        assert stuck.wait(10)


def lab_client(tmp_path) -> TestClient:
    app = create_app([])
    add_lab(app, tmp_path / "runs")
    return TestClient(app, base_url="http://localhost")


def test_the_api_refuses_what_it_cannot_do_with_a_status_and_a_message(tmp_path, mnist):
    client = lab_client(tmp_path)
    bad = client.post("/api/lab/mnist", json={"epochs": 0})
    assert bad.status_code == 400 and "epochs must be positive" in bad.json()["error"]
    started = client.post("/api/lab/mnist", json={"model": "linear", "epochs": 1})
    assert started.status_code == 200, started.text
    job = started.json()
    assert job["command"] == "firstnet train --model linear --epochs 1"
    url = f"/api/lab/jobs/{job['job']}"
    assert client.post(f"{url}/save").status_code == 409  # still paused: nothing to keep yet
    teach_url = f"{url}/teach?label=12"
    seven = {"image": (mnist.test_images[0] / 255).round(3).tolist()}  # a 7
    assert "label must be" in client.post(teach_url, json=seven).json()["error"]
    assert client.post(f"{url}/teach?label=x", json=seven).status_code == 400
    assert client.post(f"{url}/predict", json=seven).json()["class"] in range(10)
    assert client.post("/api/lab/jobs/nope/predict", json=seven).status_code == 404
    assert client.post(f"{url}/stop").json()["state"] == "stopped"
    gone = client.post("/api/lab/mnist", json={"model": "linear", "epochs": 1}).json()["job"]
    with client.stream("GET", f"/api/lab/jobs/{gone}/events") as events:
        next(events.iter_lines())  # the page reads its first frame, and goes
    assert client.post(f"/api/lab/jobs/{gone}/play").status_code == 404  # dropped: memory freed
    toy = client.post("/api/lab/toy", json={"points": 60}).json()["job"]
    answer = client.post(f"/api/lab/jobs/{toy}/predict", json=seven)
    assert answer.status_code == 400 and "no pad" in answer.json()["error"]
    client.post(f"/api/lab/jobs/{toy}/stop")


def test_the_gradient_panels_paths_are_the_figures_paths(tmp_path):
    """`firstnet plot landscape --part a` draws three paths from (-3, 3); the lab walks the same
    numbers for the same start, rate and steps."""
    client = lab_client(tmp_path)
    surface = client.get("/api/lab/surface").json()
    figure = gradient_intuition()
    assert len(surface["axis"]) == 61 and np.array(surface["loss"]).shape == (61, 61)
    for name, run in figure["paths"].items():
        assert surface["rates"][name] == run["lr"]
        path = client.post("/api/lab/descent", json={"lr": run["lr"], "steps": 40}).json()
        assert path["path"] == run["path"].tolist() and path["loss"] == run["loss"].tolist()
    adam = client.post("/api/lab/descent", json={"optimizer": "adam", "lr": 0.3, "steps": 80})
    assert adam.json()["loss"][-1] < adam.json()["loss"][0]
    for values, words in [({"lr": 0}, "lr must lie in"), ({"steps": 501}, "steps must lie in"),
                          ({"optimizer": "rmsprop"}, "choose from sgd, momentum, adam"),
                          ({"x": "1"}, "x: expected a float")]:  # fmt: skip
        answer = client.post("/api/lab/descent", json=values)
        assert answer.status_code == 400 and words in answer.json()["error"]
    assert client.get("/api/lab/surface?seed=-1").status_code == 400
    unknown = client.get("/api/lab/surface?name=everest")
    assert unknown.status_code == 400 and "choose from two-weights" in unknown.json()["error"]


def test_the_mnist_slices_are_the_figures_slices(mnist):
    """`plot landscape --part b`'s two slices (small settings here), with minus the gradient of
    the clipped loss by finite differences on the grid, and the training's path in each plane."""
    found = gradient.slices(mnist, hidden=32, epochs=1, grid=7, seed=1)
    cfg = TrainConfig(model="mlp", hidden=32, epochs=1, seed=1)
    pieces, trainer = mnist_loss_slices(cfg, mnist, size=7, seed=1)
    for piece in pieces:
        mine = found[f"mnist-{piece.name}"]
        assert mine["axis"] == piece.alphas.double().tolist()
        clipped = np.minimum(piece.loss.double().numpy(), 3.0).round(5)
        assert np.array_equal(np.array(mine["loss"]), clipped)
        assert mine["path"]["path"] == piece.path.tolist()
        assert mine["test_acc"] == trainer.history[-1]["test_acc"]
        arrows = np.array(mine["arrows"])  # (S, S, 2) at the grid's points: downhill
        assert arrows.shape == (7, 7, 2)
        lowest = np.unravel_index(np.argmin(clipped), clipped.shape)
        j, i = min(lowest[0] + 1, 6), lowest[1]  # a row above the lowest point: b pulls down
        if clipped[j, i] > clipped[lowest]:
            assert arrows[j, i, 1] <= 0


def shown_numbers(page) -> dict:
    return {name: page.locator(f"#m-n-{name}").text_content() for name in ("step", "loss", "test")}


def text_of(element: str) -> str:
    return f"document.getElementById('{element}').textContent"


class Watched:
    """A page that notes its console errors and every request that leaves `url`."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 720})
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.page.on("console", self.console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda r: r.url.startswith(url) or self.elsewhere.append(r.url))

    def console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def train_one_epoch(page, address: str) -> dict:
    """Open the MNIST panel at `address`, play it to the end; the numbers it shows."""
    page.goto(address)
    wait_for(page, f"{text_of('m-command')} !== ''", 60)
    page.click("#m-play")
    wait_for(page, "!document.getElementById('m-save').disabled", 120)
    return shown_numbers(page)


def closed_tab_ends_its_job(url: str) -> None:
    deadline = time.monotonic() + UNWATCHED_S - 1  # then an abandoned job is replaced anyway
    while (status := post(url + "/api/lab/toy", b"{}")[0]) == 409:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status == 200


@needs_browser
def test_the_mnist_panel_trains_live_answers_the_pad_saves_a_run_and_its_url_repeats_it(
    tmp_path, mnist, capsys
):
    """One epoch of the MLP, live: >= 97% on the test set; the pad then answers with this model
    (three test digits drawn stroke by stroke); save as run -> `firstnet runs` lists it and
    `firstnet eval` gives the page's accuracy; the page's URL on a fresh server gives the same
    numbers; the gradient panel draws its path; closing the tab ends the job."""
    runs_dir = tmp_path / "runs"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with lab_server(tmp_path, runs_dir) as url:
            watched = Watched(browser, url)
            page = watched.page
            first = train_one_epoch(page, url + "/lab?panel=mnist&epochs=1&seed=2")
            link = page.url.removeprefix(url)
            assert float(first["test"].rstrip("%")) >= 97.0, first
            for index in range(3):
                page.click("#m-clear")
                draw(page, strokes_of(mnist.test_images[index]), steps=2, pad="#m-pad")
                said = f"{mnist.test_labels[index]},"
                wait_for(page, f"{text_of('m-answer')}.startsWith('{said}')")
            page.click("#m-save")
            wait_for(page, f"{text_of('m-status')}.startsWith('saved as')")
            page.goto(url + "/lab?panel=gradient")
            wait_for(page, f"{text_of('g-status')}.startsWith('from (-3.00, 3.00)')")
            page.locator("#g-contour").click(position={"x": 300, "y": 100})
            wait_for(page, f"!{text_of('g-status')}.startsWith('from (-3.00')")
            page.close()
            closed_tab_ends_its_job(url)
        with lab_server(tmp_path, runs_dir) as url:  # a fresh server, the link of the first
            fresh = Watched(browser, url)
            again = train_one_epoch(fresh.page, url + link)
            fresh.page.close()
        browser.close()
    assert watched.errors == fresh.errors == [] and watched.elsewhere == fresh.elsewhere == []
    assert again == first and "epochs=1&seed=2" in link
    saved = sorted(runs_dir.iterdir())
    assert len(saved) == 1 and re.fullmatch(r"lab-mlp-\d{8}-\d{6}", saved[0].name)
    capsys.readouterr()
    assert main(["eval", str(saved[0]), "--json"]) == 0
    accuracy = json.loads(capsys.readouterr().out)["accuracy"]
    assert f"{100 * accuracy:.2f}%" == first["test"]
