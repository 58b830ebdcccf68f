"""Benchmarks: what each exported stage and tracked frame costs, side by side with what users run today."""
