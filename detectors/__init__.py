"""Detectors: each is given a batch of items and returns findings."""
