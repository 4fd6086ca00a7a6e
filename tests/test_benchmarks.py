"""Benchmarks that cannot rot: every `scripts/bench_*.py` runs here at a tiny size, as a subprocess
the way a person runs it, and must exit 0 and print its results as one JSON object on its last line.

Nothing here asserts a timing (a smoke run on a shared machine measures nothing); each run is
checked for the keys its JSON line promises and for what must hold at any size (rows counted, no
request answered with an error, gas figures present). The goals the scripts enforce are switched
off (`--no-check`) where a script has that switch. A new `bench_*.py` must get an entry in
`SMOKE_RUNS`: `test_every_benchmark_has_a_smoke_run` fails until it has one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.anvil import ANVIL_BIN, REPO_ROOT
from tests.databases import PG_URL

SCRIPTS = REPO_ROOT / "scripts"
HELPERS = frozenset({"bench_machine.py"})
"""`bench_*.py` files that are shared code of the benchmarks, not benchmarks."""
TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class SmokeRun:
    """How one benchmark runs at a tiny size, and what its JSON line must show."""

    args: tuple[str, ...]
    keys: tuple[str, ...]
    check: Callable[[dict[str, Any]], None]
    """What must hold at any size (asserts)."""
    needs_anvil: bool = False
    needs_postgresql: bool = False

    @property
    def integration(self) -> bool:
        return self.needs_anvil or self.needs_postgresql


def _gas(result: dict[str, Any]) -> None:
    gas = {k: v for k, v in result.items() if k.endswith("_gas")}
    assert {"split2_gas", "split3_gas", "settle2_gas", "settle3_gas"} <= gas.keys()
    assert all(isinstance(v, int) and v > 21_000 for v in gas.values()), gas
    assert result["artifact_current"] is None  # --no-artifact-check: `make test` checks the artifacts


def _receivables(result: dict[str, Any]) -> None:
    for chain in ("embedded", "anvil"):
        figures = result[chain]
        assert figures["receivables"] == 2
        for path in ("attestation_to_cash", "reference_issue_to_cash"):
            assert 0 < figures[path]["median_s"] <= figures[path]["max_s"], figures
        assert figures["ratio_median"] > 0


def _indexer(result: dict[str, Any]) -> None:
    assert result["events"] >= 200  # a few hundred events
    assert result["postgresql"]["events"] == result["events"]
    assert result["sqlite"]["events"] == result["events"]


def _api(result: dict[str, Any]) -> None:
    assert result["read_errors"] == 0
    assert result["workers"] == 2


def _slow_blocks(result: dict[str, Any]) -> None:
    for phase in (result["automine"], result["slow"]):
        assert phase["write_errors"] == {} and phase["read_errors"] == 0, phase
        assert sum(phase["mined_in_block_after_send"].values()) == result["clients"]
    assert result["block_time"] == 1


def _provenance(result: dict[str, Any]) -> None:
    assert result["tree_100_rows"] == 100
    assert result["ancestors_100_rows"] == result["deepest_leaf_100_depth"] + 1
    assert result["machine"]["postgresql"]


def _provenance_gateway(result: dict[str, Any]) -> None:
    assert result["errors"] == 0
    assert result["size"] == 100
    assert result["tree_nodes_in_answer"] == 100
    assert result["tree_reads"] > 0


def _edge(result: dict[str, Any]) -> None:
    assert result["requests"] == 200
    assert set(result["nesting_scan"]) == {"split_body", "hostile_body"}


def _events(result: dict[str, Any]) -> None:
    assert result["throughput"]["deliveries"] == 2 * 200  # every event, to each subscription
    latency = result["latency"]
    assert latency["delivered_blocks"] == latency["blocks"] > 0
    assert latency["sql_p99_ms"] > 0 and latency["webhook_p99_ms"] > 0


def _alert_lock(result: dict[str, Any]) -> None:
    runs = result["results"]
    assert set(runs) == {"idle", "lock for the whole evaluation", "lock to write only (evaluate_briefly)"}
    assert all(run["batches"] > 0 for run in runs.values())
    assert runs["lock to write only (evaluate_briefly)"]["evaluations"] > 0


def _console(result: dict[str, Any]) -> None:
    assert result["errors"] == 0
    assert len(result["pages"]) >= 10
    assert all(page["p95_ms"] > 0 and page["reference_p95_ms"] > 0 for page in result["pages"])


def _console_graph(result: dict[str, Any]) -> None:
    assert result["size"] == 100 and result["holdings_all"] >= 100  # a transfer adds a holding
    assert result["holdings_shown"] == result["holdings_all"]  # no level collapsed at this size
    assert result["drawn_p95_ms"] > 0 and result["reference_p50_ms"] > 0


SMOKE_RUNS: dict[str, SmokeRun] = {
    "bench_console.py": SmokeRun(
        ("--notes", "1", "--requests", "3", "--warmup", "1", "--no-check"),
        ("pages", "worst_p95_ms", "goal_ms", "goal_met", "errors", "machine"),
        check=_console,
    ),
    "bench_alert_lock.py": SmokeRun(
        ("--obligors", "5", "--rtt-ms", "1", "--seconds", "0.5"),
        ("obligors", "rtt_ms", "results"),
        needs_postgresql=True,
        check=_alert_lock,
    ),
    "bench_gas.py": SmokeRun(
        ("--no-check", "--split-sizes", "2,3", "--settle-sizes", "2,3", "--no-artifact-check"),
        (
            "split_gas",
            "ref_split_gas",
            "split_ratio",
            "transfer_ratio",
            "dvp_ratio",
            "relayed_split_gas",
            "settle_gas_per_extra_note",
            "split_gas_per_extra_part",
            "compiler",
            "machine",
        ),
        check=_gas,
    ),
    "bench_indexer.py": SmokeRun(
        ("--roots", "2", "--resplits", "2", "--parts", "50", "--no-check"),
        ("events", "naive_s", "index_s", "events_per_s", "ratio", "postgresql", "sqlite", "machine"),
        needs_anvil=True,
        needs_postgresql=True,
        check=_indexer,
    ),
    "bench_api.py": SmokeRun(
        (
            *("--workers", "2", "--splits", "4", "--writers", "2", "--rounds", "2"),
            *("--readers", "2", "--rate", "5", "--seconds", "0.5", "--reads", "20", "--no-check"),
        ),
        (
            "gateway_splits_per_s",
            "raw_splits_per_s",
            "raw_prompt_splits_per_s",
            "ratio",
            "worker_restarts",
            "note_open_p99_ms",
            "provenance_closed_per_s",
            "healthz_open_p50_ms",
            "machine",
        ),
        needs_anvil=True,
        needs_postgresql=True,
        check=_api,
    ),
    "bench_api.py --block-time": SmokeRun(  # the slow-chain run of the same script
        (
            *("--block-time", "1", "--clients", "10", "--writers", "4"),
            *("--readers", "5", "--rate", "5", "--no-check"),
        ),
        ("automine", "slow", "note_p99_ratio", "worker_restarts", "machine"),
        needs_anvil=True,
        needs_postgresql=True,
        check=_slow_blocks,
    ),
    "bench_provenance.py": SmokeRun(
        (
            *("--sizes", "100", "--ancestor-reps", "5", "--tree-reps", "3", "--events-reps", "2"),
            *("--explain", "--no-check"),
        ),
        (
            "ancestors_100_p95_ms",
            "ancestors_100_ratio_p95",
            "tree_100_p95_ms",
            "tree_100_ref_p95_ms",
            "tree_with_events_100_p95_ms",
            "holder_path_100_p95_ms",
            "first_page_200_100_p95_ms",
            "summary_100_p95_ms",
            "goals_met",
            "machine",
        ),
        needs_postgresql=True,
        check=_provenance,
    ),
    "bench_provenance_gateway.py": SmokeRun(
        (
            *("--size", "100", "--workers", "1", "--cyclers", "1"),
            *("--readers", "2", "--rate", "5", "--seconds", "0.5"),
        ),
        (
            "cold_read_ms",
            "reference_p99_ms",
            "loaded_p99_ms",
            "p50_ratio",
            "tree_p99_ms",
            "tree_answer_bytes_mean",
            "errors",
            "machine",
        ),
        needs_anvil=True,
        needs_postgresql=True,
        check=_provenance_gateway,
    ),
    "bench_events.py": SmokeRun(
        ("--events", "200", "--subscriptions", "2", "--rate", "10", "--seconds", "1", "--no-check"),
        ("throughput", "latency", "events_source", "goals_met", "machine"),
        needs_anvil=True,
        needs_postgresql=True,
        check=_events,
    ),
    "bench_receivables.py": SmokeRun(
        ("--receivables", "2", "--no-check"),
        ("embedded", "anvil", "goal_seconds", "goals_met", "machine"),
        needs_anvil=True,
        check=_receivables,
    ),
    "bench_edge.py": SmokeRun(
        ("--requests", "200", "--scans", "3"),
        ("bare_us", "edge_default_us", "edge_read_limit_us", "nesting_scan", "machine"),
        check=_edge,
    ),
    "bench_console_graph.py": SmokeRun(
        ("--size", "100", "--runs", "1", "--no-check"),
        ("size", "holdings_all", "drawn_p95_ms", "reference_p50_ms", "ratio_drawn_to_reference", "machine"),
        check=_console_graph,
    ),
}


def _benchmark_scripts() -> set[str]:
    return {path.name for path in SCRIPTS.glob("bench_*.py")} - HELPERS


def test_every_benchmark_has_a_smoke_run() -> None:
    scripts = _benchmark_scripts()
    assert scripts, f"no bench_*.py under {SCRIPTS}"
    run_scripts = {_script_of(name) for name in SMOKE_RUNS}
    assert run_scripts == scripts, (
        f"without a smoke run: {sorted(scripts - run_scripts)}; "
        f"a smoke run without its script: {sorted(run_scripts - scripts)}"
    )


def _script_of(run_name: str) -> str:
    """The script of a smoke run: its name's first word (e.g. "bench_api.py --block-time")."""
    return run_name.split()[0]


def _skip_without(run: SmokeRun) -> None:
    """Skip as the rest of the suite does where the machine has no anvil or no PostgreSQL."""
    if run.needs_anvil and not ANVIL_BIN.exists():
        pytest.skip(f"anvil not installed at {ANVIL_BIN} (run `npm ci`)")
    if run.needs_postgresql:
        admin = create_engine(PG_URL)
        try:
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # pragma: no cover - environment without PostgreSQL
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        finally:
            admin.dispose()


def _env() -> dict[str, str]:
    """This environment without the gateway's CREDCHAIN_* settings (the scripts set their own), the
    repository first on the import path."""
    keep = {"CREDCHAIN_TEST_PG_URL", "CREDCHAIN_ANVIL"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDCHAIN_") or k in keep}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _last_json_line(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "printed nothing"
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise AssertionError(f"the last line is not JSON: {lines[-1][:500]!r}") from exc
    assert isinstance(result, dict), f"the last line is JSON but not an object: {lines[-1][:500]!r}"
    return result


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            name,
            id=name.replace(".py", "").replace(" --", "-"),
            marks=[pytest.mark.integration] if run.integration else [],
        )
        for name, run in SMOKE_RUNS.items()
    ],
)
def test_benchmark_runs_at_a_tiny_size_and_prints_its_json_line(script: str) -> None:
    run = SMOKE_RUNS[script]
    _skip_without(run)
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / _script_of(script)), *run.args],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    output = f"--- stdout (end)\n{done.stdout[-3000:]}\n--- stderr (end)\n{done.stderr[-3000:]}"
    code = done.returncode
    assert code == 0, f"{script} {' '.join(run.args)} exited {code}\n{output}"
    result = _last_json_line(done.stdout)
    missing = [key for key in run.keys if key not in result]
    assert not missing, f"{script}: JSON line without {missing}\n{output}"
    run.check(result)


def test_bench_gas_sizes_are_sorted_without_repeats() -> None:
    from scripts.bench_gas import sizes_argument

    assert sizes_argument(2, 100, must_have=2)("10, 2,10,3") == (2, 3, 10)


@pytest.mark.parametrize(
    "text",
    ["3,10", "2,101", "1,2", "2,x", ""],
    ids=["without-the-carve", "above-the-maximum", "below-two", "not-a-number", "empty"],
)
def test_bench_gas_refuses_a_split_series_it_cannot_measure(text: str) -> None:
    from scripts.bench_gas import sizes_argument

    with pytest.raises(argparse.ArgumentTypeError):
        sizes_argument(2, 100, must_have=2)(text)


def test_bench_gas_refuses_a_single_settled_tree_size() -> None:
    from scripts.bench_gas import sizes_argument

    with pytest.raises(argparse.ArgumentTypeError, match="at least 2"):
        sizes_argument(2, 100, count=2)("10,10")
