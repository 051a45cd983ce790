"""Platform adapters: one module per platform, reached through :mod:`platforms.registry`."""
