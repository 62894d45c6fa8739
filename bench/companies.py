"""Hundreds of companies per replica (issue 15): one `Runtime`, one scheduler, K companies.

    PYTHONPATH=. nice -n 10 /work/main/.venv/bin/python bench/companies.py --companies 10 100 300 --seed 1

Each K runs in a fresh process: one bot (one SQLite file, one tick every 5 s of virtual time)
serving K companies of 30 approvers each, all on one emulated Precoro that keeps each company's
quota apart. Every company replays the same drawn scenario (`--docs-per-day` documents a day,
per-approver polling: the bot's default source and its most request-hungry one), so each company's
delays can be set beside a single-company run of the same seed (K=1, run first). After the
warm-up the measured span is one simulated hour:

- CPU s / sim h: `time.process_time` over the measured hour, the whole process; "bot" subtracts the
  CPU measured inside the emulator's ASGI app (what is left includes httpx's in-process transport
  and the simulation's own bookkeeping, so it slightly overstates the bot);
- peak RSS: `ru_maxrss` of that process (bot, emulator and simulation together);
- ticks, requests sent and 429s in the measured hour;
- delays (document waiting -> Slack message) of the documents that arrived in the measured hour:
  the spread (min / median / max) of the companies' means and p95s, beside the single run's. The
  first company has the single run's approver ids; the others' ids are shifted, and the planner
  breaks ties on the id as a string, so they match each other rather than the single run
  (bench/README.md §8 shows that shift alone explains the gap).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "devkit"))  # precoro_devkit, if not installed

from precoro_devkit.sim.run import simulate
from precoro_devkit.sim.scenario import HOUR, Scenario

APPROVERS = 30


@dataclass
class Row:
    companies: int
    cpu: float
    bot_cpu: float
    rss_mb: float
    ticks: int
    requests: int
    too_many: int
    means: list[float]
    p95s: list[float]
    unposted: int
    errors: int
    wall: float


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")


def run(args: tuple[Scenario, int]) -> Row:
    scenario, companies = args
    r = simulate(scenario, companies=companies)
    (cpu0, em0, ticks0, req0), (cpu1, em1, ticks1, req1) = r.marks["measured_from"], r.marks["measured_to"]
    hours = scenario.days * 24
    by_company = [d for d in r.company_delays.values() if d]
    return Row(companies, (cpu1 - cpu0) / hours, (cpu1 - cpu0 - (em1 - em0)) / hours,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, ticks1 - ticks0, req1 - req0,
               r.too_many, [statistics.fmean(d) for d in by_company], [_p95(d) for d in by_company], r.unposted,
               len(r.errors), r.wall_seconds)


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.0f}"
    return f"{min(values):.0f} / {statistics.median(values):.0f} / {max(values):.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--companies", type=int, nargs="+", default=[10, 100, 300])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--docs-per-day", type=float, default=300.0, help="per company (30 approvers)")
    p.add_argument("--warmup-hours", type=float, default=2.0)
    p.add_argument("--hours", type=float, default=1.0, help="measured")
    args = p.parse_args(argv)
    scenario = Scenario(f"{APPROVERS} approvers", APPROVERS, docs_per_day=args.docs_per_day, seed=args.seed,
                        warmup_days=args.warmup_hours * HOUR / 86400, days=args.hours * HOUR / 86400,
                        tail_days=HOUR / 86400)
    rows = []
    for k in [1, *args.companies]:  # each in a fresh process: its own peak RSS
        with ProcessPoolExecutor(max_workers=1) as pool:
            rows.append(pool.submit(run, (scenario, k)).result())
        print(f"K={k} done in {rows[-1].wall:.0f} s wall", file=sys.stderr, flush=True)
    single = rows[0]
    print(f"seed {args.seed}, {APPROVERS} approvers per company, {args.docs_per_day:g} documents/day per company, "
          f"per-approver polling, warm-up {args.warmup_hours:g} h, measured {args.hours:g} h\n")
    print("| companies | CPU s / sim h (all) | of it bot (w/o emulator) | % of a core (bot) | peak RSS MB | ticks | "
          "requests | 429s | mean delay s, min/median/max of companies | p95 delay s, min/median/max | "
          "unposted | errors | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        label = "1 (single)" if r is single else str(r.companies)
        print(f"| {label} | {r.cpu:.1f} | {r.bot_cpu:.1f} | {r.bot_cpu / 36:.1f}% | {r.rss_mb:.0f} | {r.ticks} | "
              f"{r.requests} | {r.too_many} | {_spread(r.means)} | {_spread(r.p95s)} | {r.unposted} | "
              f"{r.errors} | {r.wall:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
