"""A run's results folder: the folder and its manifest, per-level summaries, the HTML report."""
