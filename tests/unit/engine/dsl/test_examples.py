"""The runnable examples in the DSL's docstrings run (doctest)."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import engine.dsl.pipeline
import engine.dsl.table
from engine import Pipeline, aggregators, windows


@pytest.mark.parametrize("module", [engine.dsl.pipeline, engine.dsl.table],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    result = doctest.testmod(module, extraglobs={"Pipeline": Pipeline, "windows": windows,
                                                 "aggregators": aggregators},
                             optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0, capsys.readouterr().out
