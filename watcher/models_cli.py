"""``watcher models ...``: import, fetch and list the model files the "detoxify" engine uses.

::

    watcher models import PATH --config-dir DIR [--dest DIR] [--onnx]
    watcher models fetch [--variant original] [--dest DIR] [--onnx]
    watcher models list [--root DIR]

Exit codes as the rest of the CLI: 0 success, 1 failure at run time (a checkpoint that does
not validate, a download that fails, a destination that cannot be written), 2 bad usage (a
path that does not exist).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from watcher import models
from watcher.errors import DetectorError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser
               ) -> argparse.ArgumentParser:
    """Given the ``watcher`` sub-command set and the parser of common options (``--config``,
    ``--log-level``), register ``models`` with its sub-commands and return its parser."""
    p = subparsers.add_parser("models", help="import, fetch or list text-model files")
    sub = p.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    imp = sub.add_parser("import", parents=[common_parent],
                         help="validate and install a Detoxify checkpoint (no network)")
    imp.add_argument("path", metavar="PATH", help="the checkpoint file, e.g. "
                     "toxic_original-c1212f89.ckpt")
    imp.add_argument("--config-dir", required=True, help="folder with the model type's "
                     "Hugging Face config.json and tokenizer files (e.g. vocab.txt)")
    imp.add_argument("--dest", help=f"model folder (default {models.default_model_dir()})")
    imp.add_argument("--onnx", action="store_true", help="also write model.int8.onnx "
                     "(faster inference; needs onnxruntime, onnx, onnxscript)")
    fetch = sub.add_parser("fetch", parents=[common_parent],
                           help="download Detoxify's published checkpoint, then import it")
    fetch.add_argument("--variant", default="original", choices=sorted(models.DETOXIFY_URLS))
    fetch.add_argument("--dest", help=f"model folder (default {models.default_model_dir()})")
    fetch.add_argument("--onnx", action="store_true", help="also write model.int8.onnx")
    lst = sub.add_parser("list", parents=[common_parent], help="list imported models")
    lst.add_argument("--root", help=f"folder of model folders (default {models.models_root()})")
    return p


def _print_report(report: models.ImportReport) -> None:
    """Print what an import did, for the person who ran it."""
    verb = "replaced the model in" if report.replaced else "installed into"
    print(f"{report.source}: {verb} {report.dest_dir}")
    print(f"  version {report.version} (sha256 {report.checkpoint_sha256})")
    print(f"  heads: {', '.join(report.heads)}")
    print(f"  files: {', '.join(report.files)} + manifest.json")
    if report.onnx:
        print(f"  onnx: {report.onnx}")
    for note in report.notes:
        print(f"  note: {note}")
    print('  use it with [detectors.text] engine = "detoxify"')


def _import(args: argparse.Namespace) -> int:
    source, config_dir = Path(args.path), Path(args.config_dir)
    if not source.is_file():
        print(f"watcher models import: {source}: no such file", file=sys.stderr)
        return EXIT_USAGE
    if not config_dir.is_dir():
        print(f"watcher models import: --config-dir {config_dir}: no such directory",
              file=sys.stderr)
        return EXIT_USAGE
    report = models.import_detoxify(source, Path(args.dest) if args.dest else None,
                                    config_dir=config_dir, onnx=args.onnx)
    _print_report(report)
    return EXIT_OK


def _fetch(args: argparse.Namespace) -> int:
    report = models.fetch_detoxify(Path(args.dest) if args.dest else None, args.variant,
                                   onnx=args.onnx)
    _print_report(report)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    root = Path(args.root) if args.root else models.models_root()
    found = models.list_models(root)
    if not found:
        print(f"no models under {root}; {models.IMPORT_HINT}")
        return EXIT_OK
    print(f"{'folder':32} {'engine':9} {'version':13} {'onnx':5} {'imported':26} source")
    for m in found:
        if m.problem:
            print(f"{str(m.path):32} BROKEN: {m.problem}")
            continue
        print(f"{str(m.path):32} {m.engine:9} {m.version:13} {'yes' if m.onnx else 'no':5} "
              f"{m.imported_at:26} {m.source}")
    return EXIT_FAILURE if any(m.problem for m in found) else EXIT_OK


_HANDLERS = {"import": _import, "fetch": _fetch, "list": _list}


def run(args: argparse.Namespace) -> int:
    """Given parsed ``watcher models ...`` arguments, run the sub-command and return the exit
    code. Errors are printed to stderr (never raised), so the handler can be called directly."""
    name = args.models_command
    try:
        return _HANDLERS[name](args)
    except DetectorError as exc:
        print(f"watcher models {name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"watcher models {name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
