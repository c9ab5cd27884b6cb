"""Queries of materialized tables: Python views, the CLI and the HTTP server."""

from engine.query.tables import GlobalTableView, TableView, View, table_views, unknown_table

__all__ = ["GlobalTableView", "TableView", "View", "table_views", "unknown_table"]
