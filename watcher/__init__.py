"""Councillor Watcher: keeps councillors' social media safe.

The core package: configuration, storage, scheduling, policy, outbox and the command line.
Platform adapters live in ``platforms``, detectors in ``detectors``, alert channels in
``alerts``; this package reaches them only through their registries.
"""

__version__ = "0.1.0"
