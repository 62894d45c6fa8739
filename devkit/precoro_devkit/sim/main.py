"""`precoro-bot simulate`: run scenarios on virtual time and print the benchmark's table.

    precoro-bot simulate                        # every scenario of bench/README.md
    precoro-bot simulate --scenario "skewed N=50" --scenario "equal N=10"
    precoro-bot simulate --approvers 30 --skewed --days 1 --warmup-days 1 --no-baseline
    precoro-bot simulate --discovery-bench                     # bench/README.md §2: both sources
    precoro-bot simulate --discovery-bench --source discovery --scenario "N=500"
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from precoro_devkit.emulator.precoro import WINDOW_MODES
from precoro_devkit.sim.scenario import SOURCES, Scenario, discovery_standard, standard

if TYPE_CHECKING:
    from precoro_devkit.sim.report import Row
    from precoro_devkit.sim.run import Result

DESCRIPTION = "Run the real bot against the Precoro emulator on virtual time and print the benchmark's table."


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="precoro-bot simulate", description=DESCRIPTION)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `precoro-bot simulate` (this module imports nothing heavy)."""
    p.add_argument("--scenario", action="append", default=[], metavar="NAME",
                   help="a scenario of the benchmark by name (repeatable; default: all of them; see --list)")
    p.add_argument("--list", action="store_true", help="list the benchmark's scenarios and exit")
    p.add_argument("--approvers", type=int, help="run one custom scenario with this many approvers instead")
    p.add_argument("--skewed", action="store_true", help="custom scenario: Zipf rates, 90%% in working hours")
    p.add_argument("--strict", action="store_true", help="custom scenario: duplicate GETs keyed by company")
    p.add_argument("--duplicate-keying", choices=("token", "company", "route"),
                   help="Precoro's reading of \"identical GET\" in the emulator, and the one the bot's config names "
                        "(any scenario; default: the scenario's)")
    p.add_argument("--restart-at", type=float, action="append", default=[], metavar="HOUR",
                   help="custom scenario: restart the bot at this hour of the measured day (repeatable)")
    p.add_argument("--burst", type=int, default=0, metavar="CLICKS", help="custom scenario: a burst of clicks")
    p.add_argument("--docs-per-day", type=float, help="override the arrival rate (documents per day)")
    p.add_argument("--warmup-days", type=float, help="override the days simulated before the measured one")
    p.add_argument("--days", type=float, help="override the measured days")
    p.add_argument("--seed", type=int, help="override the random seed")
    p.add_argument("--no-baseline", action="store_true", help="skip the round-robin baseline runs")
    p.add_argument("--jobs", type=int, default=1, help="scenarios run in parallel processes (default 1)")
    p.add_argument("--source", action="append", choices=SOURCES, default=[],
                   help="how new documents are found: each approver's own waiting list, or company discovery "
                        "with an admin's token (repeatable; prints the discovery table)")
    p.add_argument("--discovery-bench", action="store_true",
                   help="the discovery benchmark's scenarios (N = 1 ... 500, 200 documents/day, two-step chains)")
    p.add_argument("--steps", type=int, default=1, help="custom scenario: approval steps per document (1 or 2)")
    p.add_argument("--windows", choices=WINDOW_MODES, default=None,
                   help="how the emulated Precoro counts its minute/hour/day windows: sliding (default), fixed "
                        "(aligned to the UTC clock, as Precoro describes) or anchored (from the first request)")


def scenarios_from(args: argparse.Namespace) -> list[Scenario]:
    known = {s.name: s for s in (discovery_standard() if getattr(args, "discovery_bench", False) else standard())}
    if args.approvers is not None:
        chosen = [Scenario(
            f"{'skewed' if args.skewed else 'equal'} N={args.approvers}"
            + (" strict" if args.strict else "") + (" restart" if args.restart_at else "")
            + (f" burst {args.burst}" if args.burst else ""),
            args.approvers, zipf=1.0 if args.skewed else 0.0, work_share=0.9 if args.skewed else None,
            strict_duplicates=args.strict, restart_at_hours=tuple(args.restart_at), burst_clicks=args.burst,
            steps=getattr(args, "steps", 1))]
    else:
        unknown = [n for n in args.scenario if n not in known]
        if unknown:
            raise SystemExit(f"unknown scenario {unknown[0]!r}; --list shows them")
        chosen = [known[n] for n in args.scenario] or list(known.values())
    overrides = {k: v for k, v in (("docs_per_day", args.docs_per_day), ("warmup_days", args.warmup_days),
                                   ("days", args.days), ("seed", args.seed),
                                   ("duplicate_keying", getattr(args, "duplicate_keying", None)),
                                   ("window_mode", getattr(args, "windows", None))) if v is not None}
    return [dataclasses.replace(s, **overrides) for s in chosen]


def run_rows(scenarios: list[Scenario], *, baseline: bool = True, jobs: int = 1,
             progress: Callable[[str], None] | None = None) -> list[Row]:
    """Each scenario with the adaptive planner (and the round-robin baseline), as table rows."""
    from concurrent.futures import ProcessPoolExecutor

    from precoro_devkit.sim.report import row
    from precoro_devkit.sim.run import simulate

    runs = [s.with_policy("adaptive") for s in scenarios]
    if baseline:
        runs += [s.with_policy("round_robin") for s in scenarios]
    results: dict[tuple[str, str], Result] = {}
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(simulate, runs):
                results[(result.scenario.name, result.scenario.policy)] = result
                _report(result, progress)
    else:
        for s in runs:
            result = simulate(s)
            results[(s.name, s.policy)] = result
            _report(result, progress)
    return [row(results[(s.name, "adaptive")], results.get((s.name, "round_robin"))) for s in scenarios]


def _report(result: Result, progress: Callable[[str], None] | None) -> None:
    if progress is not None:
        s = result.scenario
        progress(f"{s.name} [{s.policy}]: {len(result.delays)} documents, {result.too_many} 429s, "
                 f"{result.wall_seconds:.0f} s wall")


def run_sources(scenarios: list[Scenario], sources: list[str], *, jobs: int = 1) -> int:
    """Each scenario with each source (adaptive planner): the discovery table and its problems."""
    from concurrent.futures import ProcessPoolExecutor

    from precoro_devkit.sim import discovery_report
    from precoro_devkit.sim.run import simulate

    runs = [dataclasses.replace(s, source=src, policy="adaptive") for s in scenarios for src in sources]
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(simulate, runs))
    else:
        results = []
        for s in runs:
            results.append(simulate(s))
            progress(f"{s.name} [{s.source}]: {len(results[-1].delays)} documents, {results[-1].too_many} 429s, "
                     f"{results[-1].wall_seconds:.0f} s wall")
    print(discovery_report.table(results))
    problems = discovery_report.checks(results)
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    from precoro_devkit.sim.report import checks, table

    if args.list:
        for s in discovery_standard() if args.discovery_bench else standard():
            print(s.name)
        return 0
    scenarios = scenarios_from(args)
    if args.source or args.discovery_bench:
        return run_sources(scenarios, args.source or list(SOURCES), jobs=max(1, min(args.jobs, os.cpu_count() or 1)))
    rows = run_rows(scenarios, baseline=not args.no_baseline, jobs=max(1, min(args.jobs, os.cpu_count() or 1)),
                    progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(table(rows))
    problems = checks(rows)
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
