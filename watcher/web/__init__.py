"""The dashboard (``watcher web``): a server-rendered Starlette app for member services,
members and group leaders. See :mod:`watcher.web.app`."""
