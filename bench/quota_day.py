"""The quota benchmark: every scenario of bench/README.md, adaptive planner and round-robin baseline.

    .venv/bin/python bench/quota_day.py --jobs 2 > bench/results.md

Prints the table (Markdown) on stdout, progress on stderr, and a "problem:" line for anything
that must not happen (a 429, a document lost or posted twice, a request missing from the
ledger, an error logged, a click overtaken by a poll); exits 1 if there is one. The options of
`precoro-bot simulate` apply (`--scenario NAME`, `--days`, `--seed`, ...).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "devkit"))  # precoro_devkit, if not installed

from precoro_devkit.sim.main import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
