"""`firstnet report`: the lecture reproduced end to end into one self-contained report.html."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from firstnet.cli import options
from firstnet.cli.console import claims_table, next_steps
from firstnet.terminal import err, load_data, out


def add_parser(sub) -> None:
    report = options.add_command(sub, "report", report_command)
    budget = report.add_mutually_exclusive_group()
    quick = "the quick budget: experiments on small subsets (the default; about 3 min on 2 cores)"
    budget.add_argument("--quick", action="store_true", help=quick)
    full = "the experiments' default budgets (about 12 min on 2 cores)"
    budget.add_argument("--full", action="store_true", help=full)
    out_dir = "where report.html, report.json and the parts go"
    report.add_argument("--out-dir", type=Path, default=Path("runs/report"), help=out_dir)
    fresh = "redo every part (default: reuse the parts a previous run left in --out-dir)"
    report.add_argument("--fresh", action="store_true", help=fresh)
    options.add(report, "data", "runs-dir", "threads")


def report_command(args) -> int:
    """reproduce the whole lecture into one self-contained HTML report (figures embedded)"""
    from firstnet import report

    data = load_data(args.data_dir)
    total = len(report.PARTS)
    done = []

    def announce(key: str, title: str, cached: bool) -> None:
        done.append(key)
        state = " (reused)" if cached else ""
        heading = f"[bold]report part {len(done)} of {total}[/]: {escape(title)}{state}"
        err.print(heading, markup=True, highlight=False)

    result = report.build(
        args.out_dir, quick=not args.full, fresh=args.fresh, data=data, progress=True,
        on_part=announce, runs_dir=args.runs_dir,
    )  # fmt: skip
    out.print(claims_table(result["claims"]))
    out.print(f"Report: {args.out_dir / 'report.html'} ({result['seconds']:.0f} s)")
    err.print(next_steps(args.out_dir / "report.html", args.runs_dir), highlight=False)
    return 0
