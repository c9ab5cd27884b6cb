"""Find the Pipeline in an app given as a file path or a module path (`pkg.mod[:attr]`)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from engine.api import ConfigError, ShoalError
from engine.dsl import Pipeline


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"app file '{path}' not found")
    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    name = f"shoal_app_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"'{path}' is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _import(target: str) -> ModuleType:
    if target.endswith(".py") or "/" in target or Path(target).is_file():
        return _import_file(Path(target))
    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            raise ConfigError(f"app '{target}' not found (no such file or module)") from None
        raise


def load_pipeline(app: str) -> Pipeline:
    """The Pipeline named by `app` ('apps/shop.py', 'apps.shop', or either with ':attr')."""
    target, _, attr = app.partition(":")
    try:
        module = _import(target)
    except ShoalError:
        raise
    except SyntaxError as exc:
        raise ConfigError(f"app '{target}' has a syntax error: {exc}") from None
    except Exception as exc:
        raise ConfigError(f"app '{target}' failed to load: {type(exc).__name__}: {exc}") from exc
    if attr:
        found = getattr(module, attr, None)
        if not isinstance(found, Pipeline):
            raise ConfigError(f"'{attr}' in '{target}' is not a Pipeline")
        return found
    pipelines = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    if not pipelines:
        raise ConfigError(f"no Pipeline found in '{target}' (define one, e.g. "
                          "p = Pipeline('name'))")
    if len({id(p) for p in pipelines}) > 1:
        names = ", ".join(p.name for p in pipelines)
        raise ConfigError(f"'{target}' defines several pipelines ({names}); pick one with "
                          f"{target}:VARIABLE")
    return pipelines[0]
