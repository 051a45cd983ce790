"""``watcher web`` (the dashboard) and ``watcher users ...`` (its accounts).

::

    watcher web [--listen HOST:PORT]
    watcher users add NAME --role member-services|member|group-leader [--member ID]
                      [--group NAME] [--display-name TEXT] [--password-stdin]
    watcher users list
    watcher users passwd NAME [--password-stdin]
    watcher users disable NAME | enable NAME

Passwords are asked for twice on the terminal, or read from the first line of standard input
with ``--password-stdin`` (for scripts); never given on the command line, where other users
could read them in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TYPE_CHECKING

from watcher import config as config_mod
from watcher import logs
from watcher.errors import UserError
from watcher.web import users

if TYPE_CHECKING:
    from watcher.store import Store

log = logs.get(__name__)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    web = sub.add_parser("web", parents=[common], help="serve the dashboard",
                         description="Serve the dashboard for member services, members and "
                         "group leaders, on [web] listen (default 127.0.0.1:8080), for a "
                         "reverse proxy that adds HTTPS.")
    web.add_argument("--listen", help="HOST:PORT to listen on (default: [web] listen)")
    u = sub.add_parser("users", help="dashboard accounts")
    usub = u.add_subparsers(dest="users_command", required=True, metavar="SUBCOMMAND")
    add = usub.add_parser("add", parents=[common], help="create an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=users.ROLES)
    add.add_argument("--member", help="for --role member: the member's id in the config")
    add.add_argument("--group", help="for --role group-leader: the [[groups]] name")
    add.add_argument("--display-name", default="", help="the name shown (default: NAME)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    usub.add_parser("list", parents=[common], help="list accounts")
    pw = usub.add_parser("passwd", parents=[common], help="set a new password (signs the "
                         "user out everywhere)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    for name, text in (("disable", "stop an account signing in (signs it out)"),
                       ("enable", "let a disabled account sign in again")):
        p = usub.add_parser(name, parents=[common], help=text)
        p.add_argument("username")


def _actor() -> str:
    return f"cli:{os.environ.get('SUDO_USER') or os.environ.get('USER') or 'unknown'}"[:64]


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UserError("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise UserError("the two passwords differ; nothing was changed")
    return first


def _store(config: config_mod.Config) -> Store:
    """The config's store, migrated, with its members and accounts as the config says (as
    the daemon does at start): users and cases refer to them."""
    from watcher.store import for_config, sync_config

    store = for_config(config)
    sync_config(store, config.members)
    return store


def run_users(args: argparse.Namespace) -> int:
    config = config_mod.load(config_mod.resolve_path(args.config))
    store = _store(config)
    cmd = args.users_command
    if cmd == "add":
        info = users.add_user(store, config, username=args.username,
                              password=_password(args), role=args.role,
                              member_id=args.member, group_name=args.group,
                              display_name=args.display_name, actor=_actor())
        scope = f" for member {info.member_id}" if info.member_id else \
            f" for group {info.group_name}" if info.group_name else ""
        print(f"added {info.username} ({info.role}{scope})")
    elif cmd == "list":
        rows = users.list_users(store)
        if not rows:
            print("no accounts yet: watcher users add NAME --role ...")
        for r in rows:
            scope = r.member_id or r.group_name or "all members"
            print(f"{r.username:24} {r.role:16} {scope:24} "
                  f"{'DISABLED' if r.disabled else 'active'}")
    elif cmd == "passwd":
        users.set_password(store, args.username, _password(args), actor=_actor())
        print(f"password changed for {args.username}; their sessions are signed out")
    else:
        users.set_disabled(store, args.username, cmd == "disable", actor=_actor())
        print(f"{args.username} {cmd}d")
    return 0


def run_web(args: argparse.Namespace) -> int:
    from watcher.web.app import create_app
    from watcher.web.serve import bind, run

    config = config_mod.load(config_mod.resolve_path(args.config))
    host, port = config.web.host, config.web.port
    if args.listen:
        try:
            host, port = config_mod.parse_listen(args.listen)
        except ValueError as exc:
            print(f"watcher: --listen: {exc}", file=sys.stderr)
            return 2
    store = _store(config)
    try:
        sock = bind(host, port)
    except OSError as exc:
        print(f"watcher: {exc.strerror}", file=sys.stderr)
        return 1
    bound = sock.getsockname()
    log.info("web.start", listen=config_mod.format_address(bound[0], bound[1]),
             public_url=config.web.public_url or None)
    run(create_app(config, store), sock)
    log.info("web.stopped")
    return 0
