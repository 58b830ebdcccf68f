"""Fault injection: mutated files, killed processes, a full disk."""
