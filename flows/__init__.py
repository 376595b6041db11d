"""Prefect flows over the pipeline library: the daily run and the backfill. Nothing else."""
