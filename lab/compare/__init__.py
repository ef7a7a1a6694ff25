"""Comparing runs: run sets, metrics, statistics, verdicts and their rendering."""
