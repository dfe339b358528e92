"""pytest session set-up: the TypeScript-written fixtures exist and are current before any test runs;
the parity figures are printed at the end (the closing note quotes them)."""
from __future__ import annotations

import json

from fixtures_ts import FIXTURES, PARITY, ensure_fixtures


def pytest_sessionstart(session) -> None:  # noqa: ANN001
    ensure_fixtures()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not PARITY:
        return
    tr = terminalreporter
    tr.section("parity against TypeScript (max abs difference)")
    for case in sorted(PARITY):
        tr.write_line(f"{case:28s} " + "  ".join(f"{k} {v:.2e}" for k, v in sorted(PARITY[case].items())))
    (FIXTURES / "parity-report.json").write_text(json.dumps(PARITY, indent=1, sort_keys=True))
