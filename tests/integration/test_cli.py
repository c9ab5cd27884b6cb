"""The `shoal` CLI end to end, as a user runs it: produce, topics, run, tail, describe, and the
one-line errors it gives when misused."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ShoalRunner = Callable[..., subprocess.CompletedProcess[str]]
OrderFile = Callable[[Path, int, int, int], list[str]]

COUNT = 2_000
BAD_EVERY = 20  # about 100 bad records of all four kinds
OUTPUTS = ("orders.dlq", "orders.domestic", "orders.international", "orders.large")
APP = "apps/orders.py"


@dataclass(frozen=True)
class Job:
    """A data dir where the orders job ran once to completion, and what the CLI said."""

    data_dir: Path
    produce: subprocess.CompletedProcess[str]
    topics_before: dict[str, tuple[int, int]]
    run: subprocess.CompletedProcess[str]
    topics_after: dict[str, tuple[int, int]]
    records: dict[str, list[dict[str, Any]]]  # `tail --from-beginning` of each output topic


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def parse_topics(stdout: str) -> dict[str, tuple[int, int]]:
    """`shoal topics` as {topic: (partitions, records)} (none deleted: no internal topic)."""
    header, *rows = stdout.splitlines()
    assert header.split() == ["TOPIC", "PARTITIONS", "RECORDS", "DELETED"]
    table: dict[str, tuple[int, int]] = {}
    for row in rows:
        name, partitions, records, deleted = row.split()
        assert deleted == "0", row
        table[name] = (int(partitions.replace(",", "")), int(records.replace(",", "")))
    return table


def tail_all(shoal: ShoalRunner, topic: str, data_dir: Path) -> list[dict[str, Any]]:
    out = ok(shoal("tail", topic, "--from-beginning", data_dir=data_dir)).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory, run_cli: ShoalRunner,
        order_file: OrderFile) -> Job:
    tmp = tmp_path_factory.mktemp("cli")
    data_dir = tmp / "data"
    order_file(tmp / "orders.jsonl", COUNT, 11, BAD_EVERY)
    produced = ok(run_cli("produce", "orders", tmp / "orders.jsonl", "--key", "order_id",
                          "--partitions", "4", data_dir=data_dir))
    before = parse_topics(ok(run_cli("topics", data_dir=data_dir)).stdout)
    run = ok(run_cli("run", APP, "--until-caught-up", data_dir=data_dir))
    after = parse_topics(ok(run_cli("topics", data_dir=data_dir)).stdout)
    records = {topic: tail_all(run_cli, topic, data_dir) for topic in OUTPUTS}
    return Job(data_dir, produced, before, run, after, records)


def test_produce_reports_what_it_wrote(job: Job) -> None:
    assert f"produced {COUNT:,} records to 'orders' (4 partitions)" in job.produce.stderr
    # truncated JSON lines have no key: produce says so, but still writes them
    assert re.search(r"warning: \d+ lines had no 'order_id' field", job.produce.stderr)


def test_topics_describes_one_topic(job: Job, run_cli: ShoalRunner) -> None:
    out = ok(run_cli("topics", "orders", data_dir=job.data_dir)).stdout.splitlines()
    assert out[0] == f"topic 'orders': 4 partitions, {COUNT:,} records"
    assert out[1].split() == ["PARTITION", "END", "orders", "(committed)"]
    assert out[-1] == "group 'orders': lag 0"


def test_topics_lists_inputs_then_outputs(job: Job) -> None:
    assert job.topics_before == {"orders": (4, COUNT)}
    assert set(job.topics_after) == {"orders", *OUTPUTS}
    assert job.topics_after["orders"] == (4, COUNT)
    assert all(partitions == 4 for partitions, _ in job.topics_after.values())
    # every order lands in exactly one output topic (the dead letters included)
    assert sum(job.topics_after[t][1] for t in OUTPUTS) == COUNT


def test_run_summary_matches_the_log(job: Job) -> None:
    err = job.run.stderr
    assert "pipeline 'orders' on the embedded log, group 'orders' (exactly-once)" in err
    assert f"processed {COUNT:,} input records" in err
    for topic in ("orders.large", "orders.domestic", "orders.international"):
        assert f"-> {topic}: {job.topics_after[topic][1]:,}" in err
    dead = job.topics_after["orders.dlq"][1]
    assert dead > 0
    assert f"dead-lettered: {dead:,} (see `shoal tail orders.dlq`)" in err


def test_tail_prints_the_latest_records_as_json(job: Job, run_cli: ShoalRunner) -> None:
    out = ok(run_cli("tail", "orders.large", "-n", "3", data_dir=job.data_dir)).stdout
    lines = out.splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"topic", "partition", "offset", "key", "value"} <= record.keys()
        assert record["topic"] == "orders.large"
        assert record["partition"] in range(4)
        assert isinstance(record["offset"], int) and record["offset"] >= 0
        assert record["key"] == record["value"]["order_id"]
        assert record["value"]["total"] >= 500
        assert "headers" not in record
    # the latest by time: the last three of the whole topic in timestamp order
    everything = sorted(job.records["orders.large"], key=lambda r: r["timestamp"])
    assert [r["key"] for r in everything[-3:]] == [r["key"] for r in records]


def test_tail_dead_letters_carry_their_reason(job: Job) -> None:
    dead = job.records["orders.dlq"]
    assert len(dead) == job.topics_after["orders.dlq"][1]
    stages = set()
    for record in dead:
        headers = record["headers"]
        stages.add(headers["shoal.stage"])
        assert headers["shoal.operator"] in {"source.orders", "validate"}
        assert headers["shoal.error"]
        assert headers["shoal.source.topic"] == "orders"
        assert int(headers["shoal.source.partition"]) in range(4)
        assert int(headers["shoal.source.offset"]) >= 0
    # truncated JSON, a wrong type, and two business-rule violations
    assert stages == {"decode", "schema", "operator"}
    sources = {(r["headers"]["shoal.source.partition"], r["headers"]["shoal.source.offset"])
               for r in dead}
    assert len(sources) == len(dead), "a source record was dead-lettered twice"


@pytest.mark.parametrize("fmt", ["text", "json", "mermaid"])
def test_describe(fmt: str, run_cli: ShoalRunner) -> None:
    out = ok(run_cli("describe", APP, "--format", fmt)).stdout
    if fmt == "json":
        plan = json.loads(out)
        assert plan["pipeline"] == "orders"
        assert plan["dead_letter_topic"] == "orders.dlq"
        [sub] = plan["subtopologies"]
        assert sub["sources"] == ["orders"]
        assert {o["topic"] for o in sub["outputs"]} == set(OUTPUTS) - {"orders.dlq"}
    elif fmt == "text":
        assert out.startswith("Pipeline 'orders'")
        assert "map 'validate'" in out and "sink 'sink.orders.large'" in out
    else:
        assert out.startswith("flowchart")
        assert '(["orders.large"])' in out


def test_rerun_after_finishing_processes_nothing(job: Job, run_cli: ShoalRunner) -> None:
    again = ok(run_cli("run", APP, "--until-caught-up", data_dir=job.data_dir))
    assert "processed 0 input records" in again.stderr
    assert "0 commits" in again.stderr
    assert parse_topics(ok(run_cli("topics", data_dir=job.data_dir)).stdout) == job.topics_after
    assert {t: tail_all(run_cli, t, job.data_dir) for t in OUTPUTS} == job.records


# -- misuse: one line on stderr, starting with "error:", and a non-zero exit ------------------
MISUSE: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "missing app file": (lambda tmp: ["run", str(tmp / "missing.py")], "not found"),
    "no pipeline in app": (lambda tmp: ["run", str(tmp / "no_pipeline.py")], "no Pipeline"),
    "unknown source topic": (lambda tmp: ["run", APP, "--until-caught-up"],
                             "topic 'orders' does not exist"),
    "bad broker url": (lambda tmp: ["run", APP, "--broker", "foo://x"], "bad broker URL"),
    "missing input file": (lambda tmp: ["produce", "orders", str(tmp / "nope.jsonl")],
                           "cannot read"),
    "input is a directory": (lambda tmp: ["produce", "orders", str(tmp)], "cannot read"),
    "invalid topic name": (lambda tmp: ["produce", "no/such topic", str(tmp / "in.jsonl")],
                           "invalid topic name"),
}


@pytest.mark.parametrize("case", list(MISUSE))
def test_misuse_is_one_error_line(case: str, tmp_path: Path, shoal: ShoalRunner) -> None:
    (tmp_path / "no_pipeline.py").write_text("ANSWER = 42\n")
    (tmp_path / "in.jsonl").write_text('{"order_id": "o-1"}\n')
    args, message = MISUSE[case]
    result = shoal(*args(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), \
        f"expected one 'error:' line on stderr, got:\n{result.stderr}"
    assert message in lines[0]


def test_produce_time_sets_record_timestamps(run_cli: ShoalRunner, tmp_path: Path) -> None:
    lines = ['{"k": "a", "ts": 1000}', "not json", '{"k": "b", "ts": 2500}']
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    ok(run_cli("produce", "t", tmp_path / "in.jsonl", "--key", "k", "--time", "ts",
               data_dir=tmp_path / "d"))
    out = ok(run_cli("tail", "t", "--from-beginning", data_dir=tmp_path / "d")).stdout
    # the line without a time takes the previous line's, so it stays in event-time order
    assert [json.loads(x)["timestamp"] for x in out.splitlines()] == [1000, 1000, 2500]


# -- rough edges: each is handled, with no traceback and nothing lost ---------------------------
def test_a_deeply_nested_line_is_produced_and_tailed(shoal: ShoalRunner, tmp_path: Path) -> None:
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    (tmp_path / "in.jsonl").write_text(f'{deep}\n{{"k": "x", "ts": 5}}\n')
    produced = ok(shoal("produce", "t", tmp_path / "in.jsonl", "--key", "k", "--time", "ts"))
    assert "produced 2 records" in produced.stderr
    assert "1 lines had no 'k' field" in produced.stderr
    tailed = sorted((json.loads(line) for line in
                     ok(shoal("tail", "t", "--from-beginning")).stdout.splitlines()),
                    key=lambda r: r["offset"])
    assert [r["key"] for r in tailed] == [None, "x"]
    assert tailed[0]["value"] == deep  # printed as text, not parsed


def test_an_absurd_partition_count_is_refused(shoal: ShoalRunner, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"k": "x"}\n')
    result = shoal("produce", "t", tmp_path / "in.jsonl", "--partitions", "100000")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "100000 is not in the range 1<=x<=10000" in result.stderr
    assert "nothing produced yet" in shoal("topics").stderr  # refused before touching the log


def test_a_run_whose_every_record_failed_exits_non_zero(shoal: ShoalRunner,
                                                        tmp_path: Path) -> None:
    app = tmp_path / "failing.py"
    app.write_text("from engine import Pipeline\n"
                   "p = Pipeline('failing')\n"
                   "p.stream('in').map(lambda v: v['missing'], name='oops').to('out')\n")
    (tmp_path / "in.jsonl").write_text('{"k": 1}\n{"k": 2}\n{"k": 3}\n')
    ok(shoal("produce", "in", tmp_path / "in.jsonl"))
    result = shoal("run", app, "--until-caught-up", "--port", "0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "dead-lettered: 3" in result.stderr  # the summary first
    assert result.stderr.strip().splitlines()[-1] == (
        "error: every one of the 3 input records was dead-lettered (see `shoal tail "
        "failing.dlq`): fix the pipeline, then run it again")


@pytest.mark.parametrize("command", ["run", "produce", "tail", "topics", "query", "describe"])
def test_help_ends_with_examples(command: str, run_cli: ShoalRunner) -> None:
    text = ok(run_cli(command, "--help")).stdout
    examples = text[text.index("Examples:"):].split("\n")[1:]
    assert [line for line in examples if line.strip().startswith(f"shoal {command}")
            or f"| shoal {command}" in line], text


DIVIDE_APP = '''from engine import Pipeline


def invert(v):
    return 1 / v["k"]


p = Pipeline("div")
numbers = p.stream("in")
numbers.map(invert, name="invert").to("out")
numbers.key_by(lambda v: v["k"], name="k", key_type=int).count(name="per-k")
'''


def test_debug_puts_the_users_traceback_in_dead_letters(shoal: ShoalRunner,
                                                         tmp_path: Path) -> None:
    app = tmp_path / "divide.py"
    app.write_text(DIVIDE_APP)
    (tmp_path / "in.jsonl").write_text('{"k": 1}\n{"k": 0}\n')
    ok(shoal("produce", "in", tmp_path / "in.jsonl"))
    ok(shoal("run", app, "--until-caught-up", "--port", "0"))  # without --debug: no traceback
    first = json.loads(ok(shoal("tail", "div.dlq", "--from-beginning")).stdout)
    assert "shoal.traceback" not in first["headers"]
    ok(shoal("produce", "in", tmp_path / "in.jsonl"))
    result = ok(shoal("--debug", "--log-level", "warning", "run", app, "--until-caught-up",
                      "--port", "0"))
    assert "Traceback" not in result.stderr
    dead = [json.loads(x) for x in ok(shoal("tail", "div.dlq", "--from-beginning")).stdout
            .splitlines()]
    trace = dead[-1]["headers"]["shoal.traceback"]
    assert f'File "{app}", line 5, in invert' in trace
    assert trace.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "engine/" not in trace and "operators/" not in trace  # only the user's frames


def test_query_prints_int_keys_as_ints(shoal: ShoalRunner, tmp_path: Path) -> None:
    app = tmp_path / "divide.py"
    app.write_text(DIVIDE_APP)
    (tmp_path / "in.jsonl").write_text('{"k": 7}\n{"k": 7}\n{"k": 0}\n')
    ok(shoal("produce", "in", tmp_path / "in.jsonl"))
    ok(shoal("run", app, "--until-caught-up", "--port", "0"))
    rows = [json.loads(x) for x in ok(shoal("query", app, "per-k")).stdout.splitlines()]
    assert rows == [{"key": 0, "value": 1}, {"key": 7, "value": 2}]
    assert json.loads(ok(shoal("query", app, "per-k", "7")).stdout) == {"key": 7, "value": 2}


def test_a_full_disk_is_one_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    """Files capped at 2 MB (RLIMIT_FSIZE, as a full disk would stop writes): producing 7 MB
    fails with one error line saying how far it got; what was produced is all there."""
    import resource
    import signal

    from tests.helpers.shoal import REPO_ROOT, run_shoal, shoal_argv, shoal_env

    data = tmp_path / "data"
    (tmp_path / "small.jsonl").write_text('{"k": 1}\n{"k": 2}\n')
    (tmp_path / "big.jsonl").write_text("".join(
        json.dumps({"k": i, "pad": "x" * 100}) + "\n" for i in range(60_000)))
    ok(run_shoal("produce", "t", tmp_path / "small.jsonl", data_dir=data))

    def capped() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))

    full = subprocess.run([*shoal_argv(), "produce", "t", str(tmp_path / "big.jsonl"),
                           "--data-dir", str(data)], cwd=REPO_ROOT, env=shoal_env(),
                          preexec_fn=capped, capture_output=True, text=True, timeout=120)
    assert full.returncode == 1 and "Traceback" not in full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the log")
    assert "is the disk full?" in lines[0] and "Nothing committed before was lost" in lines[0]
    done = re.search(r"the first ([\d,]+) of 60,000 records were produced", lines[0])
    assert done, lines[0]
    tail = ok(run_shoal("tail", "t", "--from-beginning", data_dir=data)).stdout.splitlines()
    values = [json.loads(x)["value"] for x in tail]
    assert values[:2] == [{"k": 1}, {"k": 2}]  # produced before: still there
    assert [v["k"] for v in values[2:]] == list(range(int(done[1].replace(",", ""))))


def test_dead_letters_with_a_null_or_text_time_tail_in_order(shoal: ShoalRunner,
                                                             tmp_path: Path) -> None:
    """A record whose time field is null or text is dead-lettered with an int timestamp, and
    `tail --from-beginning` of the dead letters prints them (this used to crash sorting)."""
    app = tmp_path / "timed.py"
    app.write_text("from engine import Pipeline\n"
                   "p = Pipeline('timed')\n"
                   "p.stream('in', key='k', time='ts').count(name='per-k')\n")
    (tmp_path / "in.jsonl").write_text(
        '{"k": "a", "ts": null}\n{"k": "b", "ts": "soon"}\n{"k": "c", "ts": 5}\n')
    ok(shoal("produce", "in", tmp_path / "in.jsonl", "--key", "k"))
    ok(shoal("run", app, "--until-caught-up", "--port", "0"))
    dead = [json.loads(x) for x in ok(shoal("tail", "timed.dlq", "--from-beginning"))
            .stdout.splitlines()]
    assert [(d["key"], d["headers"]["shoal.stage"]) for d in dead] == [("a", "time"),
                                                                       ("b", "time")]
    assert all(isinstance(d["timestamp"], int) for d in dead)
