"""Reliability suite: the daemon under injected faults, SIGKILLs and outages."""
