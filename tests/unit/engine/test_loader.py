"""Finding the Pipeline in an app file or module."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import ConfigError
from engine.loader import load_pipeline


def test_loads_file_and_module_paths() -> None:
    assert load_pipeline("apps/orders.py").name == "orders"
    assert load_pipeline("apps.orders").name == "orders"
    assert load_pipeline("apps.orders:p").name == "orders"


@pytest.mark.parametrize(("body", "message"), [
    ("x = 1\n", "no Pipeline found"),
    ("from engine import Pipeline\na = Pipeline('a')\nb = Pipeline('b')\n", "several pipelines"),
    ("def broken(:\n", "syntax error"),
    ("raise RuntimeError('boom')\n", "failed to load: RuntimeError: boom"),
])
def test_clear_errors(tmp_path: Path, body: str, message: str) -> None:
    app = tmp_path / "app.py"
    app.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_pipeline(str(app))


def test_missing_targets() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline("nowhere/app.py")
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline("no_such_module_here")
    with pytest.raises(ConfigError, match="is not a Pipeline"):
        load_pipeline("apps.orders:validate")
