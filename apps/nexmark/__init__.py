"""Nexmark: the NX-lite v1 generator and the queries."""
