"""`firstnet report`: every claim of the lecture measured, in one self-contained page that opens
from disk. The quick report is built once and checked against the JSON
each number came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firstnet import report
from firstnet.cli import main
from firstnet.config import TrainConfig
from firstnet.experiments.full_budget import full_budget_note
from firstnet.experiments.runner import experiment_module
from firstnet.report_notes import SLIDES
from firstnet.training import Run
from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_browser, sync_playwright
from tests.budgets import MODULES, TINY

MINIMAL = Path(__file__).resolve().parents[1] / "examples" / "minimal.py"
# The lecture's claims and questions, in its order: the report must measure each.
EXPERIMENTS = ("activations", "no-activation", "depth-width", "handmade-features", "universal",
               "search")  # fmt: skip
CLAIMS = ["dimension", "classes", "separable", "linear-94", "mlp", "gradients", "activations",
          "landscape", "boundary", "deep-99.5", "lines",
          *[f"experiment-{name}" for name in EXPERIMENTS]]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory, mnist, default_linear_run, default_mlp_run, default_cnn_run):
    """`firstnet report --quick`, its experiments on their TINY budgets and its three models the
    session's default runs (the configs and seed the report trains): what is checked here is the
    report, while the accuracy gates and the experiments' tests check the trainings."""
    out = tmp_path_factory.mktemp("report")
    trained = {"linear": default_linear_run, "mlp": default_mlp_run, "cnn": default_cnn_run}

    def shared(ctx: dict, model: str) -> tuple[Run, dict]:
        run = Run.load(trained[model])
        assert run.config == TrainConfig(model=model, seed=report.SEED)  # what the report trains
        return run, run.history[-1]

    with pytest.MonkeyPatch.context() as patch:
        for name, budget in TINY.items():
            patch.setattr(MODULES[name], "QUICK", budget)
        patch.setattr(report, "trained", shared)
        assert main(["report", "--quick", "--out-dir", str(out)]) == 0
    return out, json.loads((out / "report.json").read_text())


def test_every_claim_is_measured_and_matches_the_json_it_came_from(built):
    out, document = built
    claims = {c["id"]: c for c in document["claims"]}
    assert list(claims) == CLAIMS
    parts = document["parts"]
    assert claims["dimension"]["value"] == 784 and claims["classes"]["value"] == 10
    linear, mlp, deep = (parts[key]["numbers"] for key in ("linear", "mlp", "deep"))
    proof = parts["data"]["numbers"]["separable"]  # checked in tests/test_separable.py
    assert proof["separable"] is False and claims["separable"]["measured"].startswith("no: ")
    assert claims["separable"]["value"] == sum(map(len, proof["indices"])) > 2
    assert claims["linear-94"]["value"] == linear["test_acc"] and 0.9 < linear["test_acc"] < 0.94
    assert claims["mlp"]["value"] == mlp["test_acc"] > 0.98
    assert claims["deep-99.5"]["value"] == deep["test_acc"] >= 0.995
    lines = [line for line in MINIMAL.read_text().splitlines() if line.strip()]
    assert claims["lines"]["value"] == len(lines) <= 40
    assert parts["gradients"]["numbers"]["passed"] and claims["gradients"]["value"] < 1e-6
    assert claims["boundary"]["value"] == 1.0  # the MLP separates the spirals' training points
    for name in EXPERIMENTS:
        results = json.loads((out / "experiments" / name / "results.json").read_text())
        text, value = experiment_module(name).headline(results)
        assert claims[f"experiment-{name}"]["measured"] == text + full_budget_note(name)
        assert claims[f"experiment-{name}"]["value"] == pytest.approx(value)
    for claim in claims.values():  # each row's text shows its number
        number = claim["value"]
        shown = f"{100 * number:.2f}%" if isinstance(number, float) and number <= 1 else None
        if shown and claim["id"] not in ("gradients",):
            assert shown in claim["measured"] or claim["id"].startswith("experiment-"), claim
    assert document["environment"]["cpu"] and document["seed"] == 0
    assert all(part["seconds"] > 0 for part in parts.values())


@needs_browser
def test_the_page_opens_from_disk_makes_no_request_and_shows_every_claim(built):
    out, document = built
    page_url = (out / "report.html").resolve().as_uri()
    requests, problems = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(page_url)
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "all => all.map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        rows = page.eval_on_selector_all(
            "#claims tr[data-claim]",
            "all => all.map(r => [r.dataset.claim, r.querySelector('.measured').textContent])",
        )
        shown = page.eval_on_selector_all(  # what a reader sees of each experiment's results.md
            "section[id^=experiment-]",
            "all => all.map(s => [s.id, s.innerText, s.querySelectorAll('table').length,"
            " [...s.querySelectorAll('img')].map(i => i.alt)])",
        )
        guide = page.evaluate(
            "() => [document.querySelectorAll('#contents a').length,"
            " document.querySelectorAll('#slides tr').length,"
            " document.querySelectorAll('#gradients math').length,"
            " [...document.querySelectorAll('section:not([id^=experiment-]) img')]"
            ".map(i => [i.alt, (i.parentElement.nextElementSibling || {}).innerText || ''])]"
        )
        browser.close()
    assert problems == []
    links, slides, formulas, captioned = guide
    assert links == len(document["parts"]) + 1 and slides == len(SLIDES) + 1
    assert formulas >= 5  # the forward pass, the loss and the gradients, as MathML
    assert all(caption.startswith("What to see:") for _, caption in captioned), captioned
    assert [url for url in requests if not url.startswith("data:")] == [page_url]
    assert len(images) >= 15 and all(decoded for _, decoded in images), images
    assert rows == [[c["id"], c["measured"]] for c in document["claims"]]
    for section, text, tables, figures in shown:  # Markdown rendered, each figure once
        assert tables >= 2 and "| ---" not in text and "![" not in text and "\\|" not in text
        part = document["parts"][section]
        assert sorted(figures) == sorted(part["figures"]), (section, figures)
        for line in part["text"].splitlines():
            if line.startswith("#"):
                assert line.lstrip("# ") in text and line not in text, (section, line)


def test_a_second_report_reuses_its_parts_and_fresh_redoes_them(tmp_path, monkeypatch, mnist):
    calls = []

    def part(ctx):
        calls.append(ctx.quick)
        return {"claims": [report.claim("one", "a claim", "1", 1, "cmd")], "figures": []}

    monkeypatch.setattr(report, "PARTS", {"one": ("One part", part)})
    seen = []
    report.build(tmp_path, data=mnist, on_part=lambda key, title, cached: seen.append(cached))
    report.build(tmp_path, data=mnist, on_part=lambda key, title, cached: seen.append(cached))
    assert calls == [True] and seen == [False, True]
    report.build(tmp_path, quick=False, data=mnist)  # another budget is not reused
    (tmp_path / "parts" / "one.json").write_text('{"budget": "full", "cla')  # damaged: redone
    report.build(tmp_path, quick=False, data=mnist)
    report.build(tmp_path, quick=False, fresh=True, data=mnist)
    assert calls == [True, False, False, False]
    assert "a claim" in (tmp_path / "report.html").read_text()


def test_without_the_source_checkouts_examples_the_lines_claim_is_left_out(monkeypatch, tmp_path):
    record = {"test_acc": 0.9957, "elapsed_s": 12.0}
    assert [c["id"] for c in report.deep_claims(record)] == ["deep-99.5", "lines"]
    monkeypatch.setattr(report, "MINIMAL", tmp_path / "examples" / "minimal.py")
    assert report.minimal_lines() is None
    assert [c["id"] for c in report.deep_claims(record)] == ["deep-99.5"]


def test_the_report_trains_each_model_with_its_default_recipe_and_seed(
    monkeypatch, mnist, tmp_path
):
    """What the report test above replaces by the session's default runs: the report's own
    training call, into an ordinary run directory when the report is given a runs folder (so
    `firstnet runs`, `serve` and `predict` find the report's models after `make demo`)."""
    calls = []

    def train(model, **options):
        calls.append((model, options))
        return Run(TrainConfig(model=model), None, [{"test_acc": 0.9}])

    monkeypatch.setattr(report.api, "train", train)
    ctx = report.ReportContext(mnist, Path("parts"), Path("."), quick=True, progress=False)
    assert report.trained(ctx, "cnn")[1] == {"test_acc": 0.9}
    assert calls == [("cnn", {"data": mnist, "seed": report.SEED, "progress": False})]
    kept = report.ReportContext(mnist, Path("parts"), Path("."), True, False, tmp_path / "runs")
    record = report.trained(kept, "cnn")[1]
    first = calls[1][1]["path"]
    assert record == {"test_acc": 0.9, "run": str(first)} and first.is_dir()
    assert first.parent == tmp_path / "runs" and first.name.startswith("cnn-")
    report.trained(kept, "cnn")  # a second report: a second run beside the first
    assert calls[2][1]["path"] != first and calls[2][1]["path"].is_dir()


def test_a_quick_headline_comes_with_the_full_budgets(monkeypatch, tmp_path):
    """A quick number that tells another story than the full experiment is never alone: the
    full budget's headline, its hardware and date, stand beside it (the record that
    scripts/full_budget.py writes; every experiment is in the one shipped)."""
    from firstnet.experiments import full_budget

    shipped = json.loads(full_budget.RECORD.read_text())
    assert set(shipped["headlines"]) == set(EXPERIMENTS) and shipped["hardware"] and shipped["date"]
    record = {"hardware": "a 2-core CPU", "date": "2026-12-06",
              "headlines": {"search": {"text": "TPE found the best", "value": 0.98}}}  # fmt: skip
    monkeypatch.setattr(full_budget, "RECORD", tmp_path / "full_budget.json")
    assert full_budget.full_budget_note("search") == ""  # no record: nothing claimed
    full_budget.RECORD.write_text(json.dumps(record))
    note = full_budget.full_budget_note("search")
    assert note == "; at the full budget (a 2-core CPU, 2026-12-06): TPE found the best"
    assert full_budget.full_budget_note("universal") == ""
