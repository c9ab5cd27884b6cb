"""Queries of materialized tables: Python views, the CLI and the HTTP server."""

from engine.query.tables import TableView, table_views, unknown_table

__all__ = ["TableView", "table_views", "unknown_table"]
