"""`shoal reset` on Kafka (Tansu): a reset to a time, then a run, leaves every store equal to
the same reset and run on the embedded log (whose reset is checked against a reference in
test_reset.py); a group with a running worker refuses the reset (it cannot own every
partition), and the worker runs on."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.shoal import (
    REPO_ROOT,
    cli,
    embedded,
    kafka,
    run_shoal,
    shoal_argv,
    shoal_env,
    wait_for_banner,
)
from tests.helpers.shop_runs import produce, results, shop_inputs
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow
APP = "apps/shop_tables.py"



def _middle_time(files: dict[str, tuple[Path, str]]) -> str:
    """The time of the middle stock change, in ISO 8601."""
    changes = files["stock"][0].read_text().splitlines()
    ms = json.loads(changes[len(changes) // 2])["ts"]
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _said(*args: str) -> str:
    """What `shoal ARGS` printed, after checking it exited cleanly."""
    done = run_shoal(*args)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_reset_to_a_time_on_kafka_equals_the_embedded_reset(tmp_path: Path,
                                                            broker: Broker) -> None:
    files = shop_inputs(tmp_path)[APP]
    data, work = tmp_path / "data", tmp_path / "work"
    on_kafka = ("--broker", broker.url)
    produce(files, "--data-dir", str(data))
    produce(files, *on_kafka)
    run = ("run", APP, "--until-caught-up", "--port", "0")
    cli(*run, "--data-dir", str(data))
    cli(*run, *on_kafka, "--data-dir", str(work))
    whole = results(APP, embedded(data))["stores"]
    assert results(APP, kafka(broker.bootstrap))["stores"] == whole

    when = _middle_time(files)
    dry = _said("reset", APP, "--to-time", when, "--dry-run", *on_kafka)
    assert "dry run" in dry and "store shop-tables.inventory dropped" in dry
    assert results(APP, kafka(broker.bootstrap))["stores"] == whole  # nothing changed
    said = _said("reset", APP, "--to-time", when, *on_kafka)
    assert "stock[0]:" in said and "internal topic" in said
    assert all(rows == {} for rows in results(APP, kafka(broker.bootstrap))["stores"].values())

    cli("reset", APP, "--to-time", when, "--data-dir", str(data))
    cli(*run, "--data-dir", str(data))
    cli(*run, *on_kafka, "--data-dir", str(work))
    rebuilt = results(APP, embedded(data))["stores"]
    assert rebuilt != whole and rebuilt["inventory"]
    assert results(APP, kafka(broker.bootstrap))["stores"] == rebuilt


def test_a_group_with_a_running_worker_refuses_the_reset(tmp_path: Path,
                                                         broker: Broker) -> None:
    produce(shop_inputs(tmp_path)[APP], "--broker", broker.url)
    log = tmp_path / "worker.log"
    with log.open("wb") as err:
        worker = subprocess.Popen(
            [*shoal_argv(), "run", APP, "--broker", broker.url, "--port", "0", "--data-dir",
             str(tmp_path / "work")], cwd=REPO_ROOT, env=shoal_env(),
            stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for_banner(worker, log, b"tasks (", timeout=60)
        refused = run_shoal("reset", APP, "--to-earliest", "--broker", broker.url)
        assert worker.poll() is None  # the worker runs on
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error:") and "a worker is running" in refused.stderr
