"""Example pipelines built on Shoal."""
