"""The report as one self-contained HTML page: the claims, a section per part of the lecture, the
machine; figures embedded as data URIs, so the page opens from disk and asks for nothing else."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from firstnet.device import hardware
from firstnet.report_notes import NOTES, SLIDES

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 1em 0; }
code, pre { background: #f6f6f6; font-size: 13px; }
pre { padding: 8px; overflow-x: auto; white-space: pre-wrap; }
.measured { font-weight: 600; }
math { font-size: 1.15em; }
math[display="block"] { margin: 0.8em 0; }
figure, details { margin: 1em 0; }
"""


def embedded(folder: Path, name: str) -> str:
    kind = "gif" if name.endswith(".gif") else "png"
    data = base64.b64encode((folder / name).read_bytes()).decode()
    return f'<img alt="{html.escape(name)}" src="data:image/{kind};base64,{data}">'


def markdown_html(text: str, folder: Path) -> tuple[str, set[str]]:
    """Markdown (a section's notes, an experiment's results.md) as HTML: tables and headings
    rendered (headings two levels down, under the section's), $LaTeX$ as MathML (no script), raw
    HTML escaped, and each figure it names from `folder` embedded where it stands; the names of
    those figures."""
    shown: set[str] = set()
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table").use(dollarmath_plugin)

    def image(renderer, tokens, index, options, env) -> str:
        name = tokens[index].attrGet("src") or ""
        if "/" in name or not (folder / name).is_file():
            return html.escape(tokens[index].content)  # its alt text
        shown.add(name)
        return embedded(folder, name)

    def heading(renderer, tokens, index, options, env) -> str:
        level = min(6, int(tokens[index].tag[1]) + 2)
        return f"<h{level}>" if tokens[index].nesting == 1 else f"</h{level}>\n"

    def math(display: str):
        def rule(renderer, tokens, index, options, env) -> str:
            return latex_to_mathml(tokens[index].content.strip(), display=display)

        return rule

    markdown.add_render_rule("math_inline", math("inline"))
    markdown.add_render_rule("math_block", math("block"))
    markdown.add_render_rule("image", image)
    markdown.add_render_rule("heading_open", heading)
    markdown.add_render_rule("heading_close", heading)
    return markdown.render(text), shown


def claims_html(claims: list[dict], table_id: str = "") -> str:
    rows = "".join(
        f'<tr data-claim="{html.escape(c["id"])}"><td>{html.escape(c["lecture"])}</td>'
        f'<td class="measured">{html.escape(c["measured"])}</td>'
        f"<td><code>{html.escape(c['command'])}</code></td></tr>"
        for c in claims
    )
    named = f' id="{table_id}"' if table_id else ""
    return (f"<table{named}><tr><th>the lecture</th><th>firstnet measured</th><th>command</th>"
            f"</tr>{rows}</table>")  # fmt: skip


def html_table(table: dict) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table["header"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in table["rows"]
    )
    return f"<h4>{html.escape(table['title'])}</h4><table><tr>{head}</tr>{body}</table>"


def contents(parts: dict) -> str:
    """The sections as links, and which section answers each slide of the lecture."""
    links = "".join(
        f'<li><a href="#{html.escape(key)}">{html.escape(part["title"])}</a></li>'
        for key, part in parts.items()
    )
    rows = "".join(
        f"<tr><td>{html.escape(slide)}</td><td>"
        + ", ".join(
            f'<a href="#{key}">{html.escape(parts[key]["title"])}</a>'
            for key in keys
            if key in parts
        )  # fmt: skip
        + "</td></tr>"
        for slide, keys in SLIDES
    )
    return (f'<nav id="contents"><h2>Contents</h2><ol>{links}<li><a href="#claims">The claims'
            f"</a></li></ol></nav><h2>The lecture, slide by slide</h2><table id=\"slides\">"
            f"<tr><th>the slide</th><th>answered in</th></tr>{rows}</table>")  # fmt: skip


def render(report: dict, folder: Path) -> str:
    """The page: the claims, then a section per part in the lecture's order, then the machine."""
    env = report["environment"]
    sections = []
    for key, part in report["parts"].items():
        body = [f'<section id="{key}"><h2>{html.escape(part["title"])}</h2>',
                claims_html(part["claims"])]  # fmt: skip
        text, shown = markdown_html(NOTES.get(key, "") + part.get("text", ""), folder)
        body.append(text)
        body += [html_table(t) for t in part.get("tables", [])]
        body += [embedded(folder, name) for name in part["figures"] if name not in shown]
        if part.get("code"):  # the lines a claim counts, to read
            name, code = part["code"]["name"], html.escape(part["code"]["text"])
            body.append(
                f"<details><summary>{html.escape(name)}</summary><pre>{code}</pre></details>"
            )
        body.append(f"<p>{part['seconds']:.1f} s ({part['budget']} budget)</p></section>")
        sections.append("\n".join(body))
    machine = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in env.items()
    )
    caveat = (
        " The quick budget runs the experiments on small subsets in seconds: their numbers answer"
        " each question at that budget (a network trained on a few thousand images, for one);"
        " <code>firstnet report --full</code> runs their default budgets."
        if report["budget"] == "quick"
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Your First Deep Network, reproduced by firstnet</title>
<style>{STYLE}</style></head><body>
<h1>Your First Deep Network, reproduced</h1>
<p>Every claim and question of the lecture, measured by firstnet {html.escape(report["firstnet"])}
on {html.escape(hardware(env))} ({report["budget"]} budget, seed
{report["seed"]}, data from {html.escape(str(report["data_source"]))}), {report["created"]};
{report["seconds"]:.0f} s to build. Rerun with <code>firstnet report</code>.{caveat}</p>
{contents(report["parts"])}
<h2>The claims</h2>
{claims_html(report["claims"], "claims")}
{"".join(sections)}
<h2>The machine</h2><table>{machine}</table>
</body></html>
"""
