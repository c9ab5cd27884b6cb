"""The OpenAPI 3 description of the table query API."""

from __future__ import annotations

from typing import Any

_ERROR = {"description": "error", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}}
_JSON = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}


def _param(name: str, where: str, kind: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path",
            "schema": {"type": kind}, "description": text}


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Shoal table queries", "version": "1",
             "description": "Read-only JSON API over a running pipeline's tables."},
    "paths": {
        "/tables": {"get": {"summary": "List the tables", "responses": {"200": _JSON}}},
        "/tables/{name}": {"get": {
            "summary": "Rows of a table in key order",
            "parameters": [
                _param("name", "path", "string", "table name"),
                _param("prefix", "query", "string", "only keys with this prefix"),
                _param("start", "query", "string", "first key (inclusive)"),
                _param("end", "query", "string", "last key (exclusive)"),
                _param("limit", "query", "integer", "at most this many rows")],
            "responses": {"200": _JSON, "400": _ERROR, "404": _ERROR}}},
        "/tables/{name}/{key}": {"get": {
            "summary": "One key's value (windowed tables: its windows)",
            "parameters": [
                _param("name", "path", "string", "table name"),
                _param("key", "path", "string", "the key"),
                _param("start", "query", "integer", "windowed: first window start (ms)"),
                _param("end", "query", "integer", "windowed: window starts before this"),
                _param("limit", "query", "integer", "windowed: at most this many windows")],
            "responses": {"200": _JSON, "400": _ERROR, "404": _ERROR}}},
    },
}
