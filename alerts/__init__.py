"""Alert channels: one module per channel (email, ...)."""
