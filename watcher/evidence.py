"""Police-ready evidence packs: one zip per case that member services can hand over.

:func:`export_pack` writes ``case-<id>-evidence.zip``::

    README.txt                       what the pack is and how to check it (for an officer)
    case.json                        the case: fields, member, the items and their folders
    timeline.csv                     the case's timeline (notes, status and reference changes)
    items/<nn>-<platform>-<id>/      one folder per item, oldest first
        raw.json                     the item's JSON exactly as the platform's API returned it
        fetch.json                   when and from which API endpoint it was read, its SHA-256
        view.html                    the item in its thread, the item highlighted
        view.pdf                     the same as a PDF
        findings.json                what the detectors found in it
        versions/<nn>/raw.json       earlier versions, if the item was edited on the platform
        versions/<nn>/version.json   when each earlier version was read and replaced
    SHA256SUMS                       the SHA-256 of every other file (``sha256sum -c``)

Re-exporting an unchanged case gives a byte-identical zip, so a pack's hash recorded when it
was sent still identifies it later: entries are written in a fixed order; every entry's time
is the case's opening time (UTC) and its permissions 0644 (Unix); every entry is deflated at
level 9; no export time appears in any file (the PDF's creation date is the case's opening
time too). What else goes in is the config's member services name and addresses and the
platforms' API addresses; the bytes can also differ under another zlib, fpdf2 or font file.

The PDF uses DejaVu Sans (:data:`PDF_FONT`, Debian's ``fonts-dejavu-core``) so that any
script the font covers prints as written; without that file it falls back to the PDF core
font Helvetica, which knows Latin-1 only, and characters outside it print as ``?``. Either
way the PDF is a view: ``raw.json`` and ``view.html`` hold the exact text. Characters DejaVu
lacks (emoji, most CJK) are left out of the PDF (fpdf2 logs which); the other files keep them.
The endpoint in ``fetch.json`` is derived from the config in force at export time.

Exporting reads the store and changes no row; it appends one ``case.exported`` action.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher import logs
from watcher.cases import CaseDetail, CaseItem, load_detail
from watcher.config import DEFAULT_PLATFORMS, Config
from watcher.domain import platform_name
from watcher.errors import CaseError
from watcher.store import Store, record_action, sha256_text
from watcher.store.models import ItemRow, ItemVersionRow, MemberRow

log = logs.get(__name__)

#: The Unicode font the PDF views use when it is installed (else Helvetica, Latin-1 only).
PDF_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PDF_FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
#: A thread is shown up to this many stored items deep and this many items long.
MAX_THREAD_DEPTH = 50
MAX_THREAD_ITEMS = 500
#: Characters of one item's text in the PDF (a 1 MB comment would be hundreds of pages);
#: view.html and raw.json always hold all of it.
PDF_TEXT_LIMIT = 20_000
#: Every zip entry is a regular file readable by all, writable by its owner.
ENTRY_MODE = 0o100644
#: The pack on disk holds personal data: its owner and group only.
PACK_FILE_MODE = 0o640
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class ThreadEntry:
    """One stored item of a thread as the views show it."""

    depth: int
    external_id: str
    kind: str
    author: str
    created_at: str
    text: str
    permalink: str
    flagged: bool
    edited: bool


@dataclass(frozen=True)
class ItemEvidence:
    """What the pack holds for one case item, read in the export's one transaction."""

    item: CaseItem
    raw: str
    versions: tuple[ItemVersionRow, ...]
    thread: tuple[ThreadEntry, ...]
    missing_parent: str | None
    hidden_thread_items: int


# ---------------------------------------------------------------------------------------------
# The one entry point


def export_pack(store: Store, config: Config, case_id: int, out_dir: str | os.PathLike[str],
                *, actor: str = "watcher") -> Path:
    """Write the case's evidence pack and return its path.

    Given the store, the config (for the API endpoints and the council's member services'
    name), the case id, the folder to write ``case-<id>-evidence.zip`` into (created if
    needed; an older pack of the case there is replaced) and who exports it.

    Raises CaseError if the case does not exist, or naming the folder and why if it cannot
    be created or written.
    """
    out = Path(out_dir)
    with store.session() as s:
        if s.get_bind().dialect.name == "postgresql":
            # One snapshot for every read, so that a poll storing an edit meanwhile cannot
            # give the pack a view from before it and a raw.json from after (SQLite's
            # transactions are one snapshot already).
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        detail = load_detail(s, case_id)
        member = s.get(MemberRow, detail.case.member_id)
        member_name = member.name if member is not None else detail.case.member_id
        evidence = [_read_item(s, item) for item in detail.items]
    files = _pack_files(config, detail, member_name, evidence)
    data = _zip(files, _stamp(detail.case.opened_at))
    path = _write(out, f"case-{case_id}-evidence.zip", data)
    digest = hashlib.sha256(data).hexdigest()
    with store.session() as s:
        record_action(s, store.clock(), "case.exported", actor=actor or "watcher",
                      member_id=detail.case.member_id, case_id=case_id, path=str(path),
                      sha256=digest, items=len(evidence))
    log.info("case.exported", case_id=case_id, path=str(path), sha256=digest,
             items=len(evidence), bytes=len(data))
    return path


# ---------------------------------------------------------------------------------------------
# Reading


def _read_item(session: Session, item: CaseItem) -> ItemEvidence:
    """Return one item's raw payload, earlier versions and thread."""
    row = session.get(ItemRow, item.item_id)
    assert row is not None  # the case's items were read in this same transaction
    versions = tuple(session.scalars(select(ItemVersionRow)
                                     .where(ItemVersionRow.item_id == row.id)
                                     .order_by(ItemVersionRow.superseded_at,
                                               ItemVersionRow.id)))
    thread, missing_parent, hidden = _thread(session, row)
    return ItemEvidence(item=item, raw=row.raw, versions=versions, thread=thread,
                        missing_parent=missing_parent, hidden_thread_items=hidden)


def _thread(session: Session, item: ItemRow
            ) -> tuple[tuple[ThreadEntry, ...], str | None, int]:
    """Given an item, return the stored thread it belongs to (its post first, then every
    stored comment and reply under it, each after its parent, oldest first), the id of the
    parent it answers if that was never stored, and how many thread items were left out
    beyond :data:`MAX_THREAD_ITEMS`."""

    def by_external_id(external_id: str) -> ItemRow | None:
        return session.scalar(select(ItemRow).where(ItemRow.account_id == item.account_id,
                                                    ItemRow.external_id == external_id))

    root = item
    conversation = _conversation_id(item)
    if conversation and conversation != item.external_id:
        root = by_external_id(conversation) or item
    if root is item:
        seen = {item.external_id}
        while root.parent_external_id and len(seen) < MAX_THREAD_DEPTH:
            parent = by_external_id(root.parent_external_id)
            if parent is None or parent.external_id in seen:
                break
            seen.add(parent.external_id)
            root = parent
    missing_parent = root.parent_external_id if root.parent_external_id else None
    children: dict[str, list[ItemRow]] = {}
    frontier, known, total = [root.external_id], {root.external_id}, 1
    for _ in range(MAX_THREAD_DEPTH):
        if not frontier:
            break
        found: list[ItemRow] = []
        for i in range(0, len(frontier), 500):
            found.extend(session.scalars(
                select(ItemRow).where(ItemRow.account_id == item.account_id,
                                      ItemRow.parent_external_id.in_(frontier[i:i + 500]))
                .order_by(ItemRow.created_at, ItemRow.id)))
        frontier = []
        for child in found:
            if child.external_id in known:
                continue
            known.add(child.external_id)
            total += 1
            children.setdefault(child.parent_external_id or "", []).append(child)
            frontier.append(child.external_id)
    ordered: list[tuple[ItemRow, int]] = []

    def visit(row: ItemRow, depth: int) -> None:
        ordered.append((row, depth))
        for child in children.get(row.external_id, ()):
            visit(child, depth + 1)

    visit(root, 0)
    if item.external_id not in known:  # an X reply whose stored chain does not reach the post
        ordered.append((item, 1))
    shown = ordered[:MAX_THREAD_ITEMS]
    if all(row.id != item.id for row, _ in shown):
        shown[-1] = next((row, d) for row, d in ordered if row.id == item.id)
    ids = [row.id for row, _ in shown]
    edited = set(session.scalars(select(ItemVersionRow.item_id).where(
        ItemVersionRow.item_id.in_(ids))))
    entries = tuple(_entry(row, depth, row.id == item.id, row.id in edited)
                    for row, depth in shown)
    return entries, missing_parent, max(0, len(ordered) - len(shown))


def _conversation_id(item: ItemRow) -> str | None:
    """The X conversation (its first tweet's id) an X item belongs to, from its raw payload."""
    if item.platform != "x":
        return None
    try:
        value = json.loads(item.raw).get("conversation_id")
    except (ValueError, AttributeError):
        return None
    return str(value) if isinstance(value, str | int) and str(value) else None


def _entry(row: ItemRow, depth: int, flagged: bool, edited: bool) -> ThreadEntry:
    author = row.author_name or "(name not disclosed)"
    if row.author_id:
        author += f" (id {row.author_id})"
    if row.is_own:
        author += " [the councillor's account]"
    return ThreadEntry(depth=depth, external_id=row.external_id, kind=row.kind, author=author,
                       created_at=_iso(row.created_at), text=row.text,
                       permalink=row.permalink or "", flagged=flagged, edited=edited)


# ---------------------------------------------------------------------------------------------
# The files


def _pack_files(config: Config, detail: CaseDetail, member_name: str,
                evidence: Sequence[ItemEvidence]) -> list[tuple[str, bytes]]:
    """Return (name in the zip, content) for every file, in the zip's order, SHA256SUMS last.
    """
    width = max(2, len(str(len(evidence))))
    folders = [f"items/{n:0{width}d}-{_safe(e.item.platform)}-{_safe(e.item.external_id)}/"
               for n, e in enumerate(evidence, start=1)]
    stamp = _stamp(detail.case.opened_at)
    files: list[tuple[str, bytes]] = [
        ("README.txt", _readme(config, detail, member_name, folders).encode("utf-8")),
        ("case.json", _json(_case_json(config, detail, member_name, evidence, folders))),
        ("timeline.csv", _timeline_csv(detail)),
    ]
    for folder, ev in zip(folders, evidence, strict=True):
        files.append((folder + "raw.json", ev.raw.encode("utf-8")))
        files.append((folder + "fetch.json", _json(_fetch_json(config, ev))))
        html = _view_html(detail, member_name, ev)
        files.append((folder + "view.html", html.encode("utf-8")))
        files.append((folder + "view.pdf", _view_pdf(detail, member_name, ev, stamp)))
        files.append((folder + "findings.json", _json([_finding_json(f)
                                                       for f in ev.item.findings])))
        vwidth = max(2, len(str(len(ev.versions))))
        for n, version in enumerate(ev.versions, start=1):
            prefix = f"{folder}versions/{n:0{vwidth}d}/"
            files.append((prefix + "raw.json", version.raw.encode("utf-8")))
            files.append((prefix + "version.json", _json({
                "text": version.text, "fetched_at": _iso(version.fetched_at),
                "superseded_at": _iso(version.superseded_at),
                "raw_sha256": version.raw_sha256,
                "raw_sha256_matches": sha256_text(version.raw) == version.raw_sha256})))
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files)
    files.append(("SHA256SUMS", sums.encode("utf-8")))
    return files


def _case_json(config: Config, detail: CaseDetail, member_name: str,
               evidence: Sequence[ItemEvidence], folders: Sequence[str]) -> dict[str, Any]:
    c = detail.case
    return {
        "case": {
            "id": c.id, "title": c.title, "status": c.status, "assignee": c.assignee,
            "police_reference": c.police_reference, "platform_reference": c.platform_reference,
            "sender": ({"platform": c.sender_platform, "id": c.sender_id}
                       if c.sender_platform else None),
            "opened_automatically": c.auto_key is not None,
            "opened_at": _iso(c.opened_at), "opened_by": c.opened_by,
            "updated_at": _iso(c.updated_at),
            "closed_at": _iso(c.closed_at) if c.closed_at else None,
        },
        "member": {"id": c.member_id, "name": member_name},
        "prepared_by": config.member_services.name,
        "items": [{
            "folder": folder, "item_id": e.item.item_id, "platform": e.item.platform,
            "account": e.item.account, "external_id": e.item.external_id,
            "kind": e.item.kind, "author_id": e.item.author_id,
            "author_name": e.item.author_name, "created_at": _iso(e.item.created_at),
            "permalink": e.item.permalink, "raw_sha256": e.item.raw_sha256,
            "labels": sorted({f.label for f in e.item.findings}),
            "added_to_case_at": _iso(e.item.added_at), "added_by": e.item.added_by,
            "earlier_versions": len(e.versions),
        } for folder, e in zip(folders, evidence, strict=True)],
    }


def _fetch_json(config: Config, ev: ItemEvidence) -> dict[str, Any]:
    item = ev.item
    return {
        "platform": item.platform, "account": item.account, "kind": item.kind,
        "external_id": item.external_id, "item_id": item.item_id,
        "created_at": _iso(item.created_at),
        "fetched_at": _iso(item.fetched_at),
        "raw_sha256": item.raw_sha256,
        # Checked now: the hash recorded at fetch time still matches what is in raw.json.
        "raw_sha256_matches": sha256_text(ev.raw) == item.raw_sha256,
        "endpoint": endpoint(config, item.platform, item.kind, item.account),
        "permalink": item.permalink,
        "earlier_versions": len(ev.versions),
    }


def endpoint(config: Config, platform: str, kind: str, account: str) -> str:
    """Given the config, an item's platform and kind and its account's page or user id,
    return the API request that returns such an item, as the adapters make it."""
    pc = config.platforms.get(platform) or DEFAULT_PLATFORMS.get(platform)
    base = (pc.base_url if pc else "").rstrip("/")
    if platform == "facebook":
        version = (pc.api_version if pc else "") or "v21.0"
        feed = f"GET {base}/{version}/{account}/feed"
        if kind == "post":
            return feed
        return (f"{feed} (comments expanded; later comment pages: GET {base}/{version}/"
                "{post-id}/comments in a Graph batch request)")
    if platform == "x":
        if kind == "mention":
            return f"GET {base}/2/users/{account}/mentions"
        if kind == "post":
            return (f"GET {base}/2/tweets/search/recent (on the account's first poll: "
                    f"GET {base}/2/users/{account}/tweets)")
        return (f"GET {base}/2/tweets/search/recent (conversation search) or "
                f"GET {base}/2/users/{account}/mentions")
    return f"{platform} API"


def _finding_json(f: Any) -> dict[str, Any]:
    return {"id": f.id, "label": f.label, "score": round(f.score, 6), "severity": f.severity,
            "reasons": list(f.reasons), "detector": f.detector,
            "detector_version": f.detector_version, "created_at": _iso(f.created_at)}


def _timeline_csv(detail: CaseDetail) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at_utc", "actor", "kind", "text"])
    for note in detail.timeline:
        writer.writerow([_iso(note.at), _cell(note.actor), note.kind, _cell(note.text)])
    return out.getvalue().encode("utf-8")


def _cell(text: str) -> str:
    # Opened in a spreadsheet, a cell starting with these would run as a formula (OWASP's
    # CSV injection advice: prefix a quote).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ---------------------------------------------------------------------------------------------
# The views

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True)
_HTML = _ENV.from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Case {{ case.id }}: {{ platform }} item {{ item.external_id }}</title>
<style>
body { font-family: sans-serif; max-width: 60em; margin: 1em auto; color: #111; }
.meta { color: #444; font-size: 0.9em; }
.entry { list-style: none; border-left: 3px solid #ccc; padding: 0.4em 0.8em; margin: 0.6em 0; }
.flagged { border-left: 6px solid #c00; background: #fff3c4; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin-top: 0.3em; }
.link { font-size: 0.8em; color: #444; overflow-wrap: anywhere; }
table { border-collapse: collapse; } td, th { border: 1px solid #999; padding: 0.2em 0.5em; }
</style>
</head>
<body>
<h1>Case {{ case.id }}: {{ case.title }}</h1>
<p class="meta">Councillor: {{ member_name }} ({{ case.member_id }}).
{{ platform }} account {{ item.account }}. Item {{ item.external_id }} ({{ item.kind }}),
read from the platform at {{ fetched_at }}. Times are UTC.</p>
<p class="meta">The flagged item is highlighted. Below it are the other items of its thread
that the council's system stored. Texts are shown as stored; raw.json holds the item exactly as
the platform's API returned it.</p>
{% if missing_parent %}<p class="meta">This thread answers item {{ missing_parent }},
which was not stored.</p>{% endif %}
<ol>
{% for e in thread %}<li class="entry{% if e.flagged %} flagged{% endif %}" \
style="margin-left: {{ e.depth * 2 }}em">
<div class="meta">{% if e.flagged %}<strong>FLAGGED ITEM</strong> &middot; {% endif %}\
{{ e.kind }} {{ e.external_id }} by {{ e.author }} at {{ e.created_at }}\
{% if e.edited %} &middot; edited (earlier versions in versions/){% endif %}</div>
<div class="text">{{ e.text }}</div>
{% if e.permalink %}<div class="link">{{ e.permalink }}</div>{% endif %}
</li>
{% endfor %}</ol>
{% if hidden %}<p class="meta">{{ hidden }} more stored item(s) of this thread are not
shown.</p>{% endif %}
<h2>Findings</h2>
{% if item.findings %}<table>
<tr><th>label</th><th>score</th><th>severity</th><th>detector</th><th>reasons</th></tr>
{% for f in item.findings %}<tr><td>{{ f.label }}</td><td>{{ "%.3f" % f.score }}</td>\
<td>{{ f.severity }}</td><td>{{ f.detector }} {{ f.detector_version }}</td>\
<td>{{ f.reasons | join("; ") }}</td></tr>
{% endfor %}</table>{% else %}<p>None: this item was added to the case by hand.</p>{% endif %}
</body>
</html>
""")


def _view_html(detail: CaseDetail, member_name: str, ev: ItemEvidence) -> str:
    """The item in its thread as a self-contained HTML page: every text is escaped (by
    Jinja2's autoescape) and the page may load or run nothing (its CSP)."""
    item = ev.item
    return _HTML.render(case=detail.case, member_name=member_name, item=item,
                        platform=platform_name(item.platform),
                        fetched_at=_iso(item.fetched_at), thread=ev.thread,
                        missing_parent=ev.missing_parent, hidden=ev.hidden_thread_items)


def _view_pdf(detail: CaseDetail, member_name: str, ev: ItemEvidence, stamp: datetime) -> bytes:
    """The same content as view.html as a plain A4 PDF, dated ``stamp`` so that it is
    byte-identical each time."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(stamp)
    pdf.set_creator("Councillor Watcher")
    pdf.set_title(f"Case {detail.case.id}: {ev.item.platform} item {ev.item.external_id}")
    unicode_font = PDF_FONT.is_file()
    if unicode_font:
        pdf.add_font("DejaVu", "", str(PDF_FONT))
        pdf.add_font("DejaVu", "B", str(PDF_FONT_BOLD if PDF_FONT_BOLD.is_file() else PDF_FONT))
        family = "DejaVu"
    else:
        family = "Helvetica"

    def t(text: str) -> str:
        # The core font knows Latin-1 only: anything else prints as "?".
        return text if unicode_font else text.encode("latin-1", "replace").decode("latin-1")

    def para(text: str, size: float = 10, style: str = "", indent: float = 0.0,
             fill: bool = False) -> None:
        pdf.set_font(family, style, size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(pdf.epw - indent, size * 0.5, t(text), fill=fill,
                       new_x="LMARGIN", new_y="NEXT")

    item, case = ev.item, detail.case
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    para(f"Case {case.id}: {case.title}", size=14, style="B")
    para(f"Councillor: {member_name} ({case.member_id}). {platform_name(item.platform)} "
         f"account {item.account}. Item {item.external_id} ({item.kind}), read from the "
         f"platform at {_iso(item.fetched_at)}. Times are UTC.", size=9)
    para("The flagged item is highlighted. Texts are shown as stored; raw.json holds the item "
         "exactly as the platform's API returned it.", size=9)
    if ev.missing_parent:
        para(f"This thread answers item {ev.missing_parent}, which was not stored.", size=9)
    pdf.ln(2)
    pdf.set_fill_color(255, 243, 196)
    for e in ev.thread:
        indent = min(e.depth, 8) * 6.0
        head = ("FLAGGED ITEM - " if e.flagged else "") + \
            f"{e.kind} {e.external_id} by {e.author} at {e.created_at}" + \
            (" - edited (earlier versions in versions/)" if e.edited else "")
        text = e.text
        if len(text) > PDF_TEXT_LIMIT:
            text = text[:PDF_TEXT_LIMIT] + (f"\n[... {len(e.text) - PDF_TEXT_LIMIT} more "
                                            "characters: see view.html or raw.json]")
        para(head, size=8, style="B", indent=indent, fill=e.flagged)
        para(text or "(no text)", size=10, indent=indent, fill=e.flagged)
        if e.permalink:
            para(e.permalink, size=7, indent=indent, fill=e.flagged)
        pdf.ln(2)
    if ev.hidden_thread_items:
        para(f"{ev.hidden_thread_items} more stored item(s) of this thread are not shown.",
             size=9)
    pdf.ln(2)
    para("Findings", size=12, style="B")
    if not item.findings:
        para("None: this item was added to the case by hand.")
    for f in item.findings:
        para(f"{f.label}: score {f.score:.3f}, severity {f.severity}, detector {f.detector} "
             f"{f.detector_version}" + (f"; {'; '.join(f.reasons)}" if f.reasons else ""),
             size=9)
    return bytes(pdf.output())


# ---------------------------------------------------------------------------------------------
# README

_README = """\
EVIDENCE PACK: CASE {case_id}
{rule}

What this is
------------
Online abuse received by {member_name}, a councillor of this council, on the social media
account(s) the council monitors for them. It was prepared by the council's {services} with
Councillor Watcher, the council's monitoring system, which reads each account through the
platform's own API (Facebook's Graph API, the X API) and stores every item it reads together
with a SHA-256 hash of it, taken when it was read.

Case:            {title}
Status:          {status}
Opened:          {opened_at} (UTC) by {opened_by}
Police ref.:     {police_reference}
Platform ref.:   {platform_reference}
{sender_line}Items:           {items}

All times in this pack are UTC. The time stamps of the files inside the zip are all the
time the case was opened (so that exporting the same case again gives an identical zip);
they are not the time the files were written.

The files
---------
README.txt     this file.
case.json      the case: its status, references, the councillor, and the list of items
               with the folder each one is in.
timeline.csv   the case's log in order: when it was opened, every change of status or
               reference and every note, with who made it.
SHA256SUMS     the SHA-256 hash of every other file in the pack.

Each item has a folder items/NN-PLATFORM-ID/ (NN = 01 for the oldest item), holding:

raw.json       the item exactly as the platform's API returned it: the item's own JSON
               object from the API's answer, stored when it was read and not changed
               since (its keys are in sorted order; characters no database can hold, NUL
               and invalid Unicode, are shown as U+FFFD). Its SHA-256 is the one recorded
               when it was read (see fetch.json).
fetch.json     when the item was read (fetched_at), the API request it came from
               (endpoint), its link on the platform (permalink), and raw_sha256: the hash
               recorded at that moment. raw_sha256_matches says whether raw.json still
               has that hash.
view.html      the item as a person would read it, in its thread: the post it answers and
               the other comments of that post the system stored, the item highlighted.
               It is a plain web page that loads and runs nothing.
view.pdf       the same view as a PDF, for printing.
findings.json  why the system flagged the item (its labels and scores).
versions/      only if the author edited the item: each earlier text (raw.json, and
               version.json saying when it was read and when it was replaced).

How to check that nothing was changed
-------------------------------------
Unzip the pack, then in the folder that holds SHA256SUMS:

  Linux or macOS:   sha256sum -c SHA256SUMS
                    (on older macOS: shasum -a 256 -c SHA256SUMS)
                    Every file should be reported "OK".

  Windows (PowerShell), one file:
                    Get-FileHash -Algorithm SHA256 items\\01-...\\raw.json
                    and compare the hash with that file's line in SHA256SUMS (Windows
                    prints it in capitals; the letters' case does not matter).
  Windows, every file at once:
                    Get-Content SHA256SUMS | ForEach-Object {{ $h, $f = $_ -split '  ', 2;
                      if ((Get-FileHash -Algorithm SHA256 -LiteralPath $f).Hash -eq $h)
                      {{ "OK $f" }} else {{ "CHANGED $f" }} }}

The hash of raw.json should also equal raw_sha256 in the item's fetch.json, which the
system recorded when it read the item from the platform.

Reporting
---------
Threats, intimidation and harassment of councillors in connection with their role are
"Operation Ford" incidents: when reporting one to the police (999 in an emergency, else 101
or online), say that it is an Operation Ford incident.

Contact: {services}, {contact}.
"""


def _readme(config: Config, detail: CaseDetail, member_name: str,
            folders: Sequence[str]) -> str:
    c = detail.case
    sender = (f"Sender:          {c.sender_platform} user id {c.sender_id}\n"
              if c.sender_platform else "")
    text = _README.format(
        case_id=c.id, rule="=" * len(f"EVIDENCE PACK: CASE {c.id}"), member_name=member_name,
        services=config.member_services.name, title=c.title, status=c.status,
        opened_at=_iso(c.opened_at), opened_by=c.opened_by,
        police_reference=c.police_reference or "(none yet)",
        platform_reference=c.platform_reference or "(none yet)", sender_line=sender,
        items=len(folders), contact=", ".join(config.member_services.emails) or "-")
    return text


# ---------------------------------------------------------------------------------------------
# The zip


def _zip(files: Sequence[tuple[str, bytes]], stamp: datetime) -> bytes:
    """Return the zip of ``files`` in their order, every entry with the same time, mode and
    compression, so that the same files always give the same bytes."""
    buffer = io.BytesIO()
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the exporting machine is
            info.external_attr = ENTRY_MODE << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def _write(out: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``out/name`` through a temporary file (so a half-written pack never
    takes the place of a good one) and return the path.

    Raises CaseError naming the folder and why if it cannot be created or written.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CaseError(f"cannot write the evidence pack to {out}: it exists and is not a "
                        "folder") from None
    except OSError as exc:
        raise CaseError(f"cannot create the folder {out} for the evidence pack: "
                        f"{exc.strerror or exc}") from None
    if not out.is_dir():
        raise CaseError(f"cannot write the evidence pack to {out}: not a folder")
    path = out / name
    tmp = out / f".{name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PACK_FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CaseError(f"cannot write the evidence pack into {out}: "
                        f"{exc.strerror or exc}") from None
    return path


# ---------------------------------------------------------------------------------------------
# Small helpers


def _stamp(opened_at: datetime) -> datetime:
    """The one time every zip entry and the PDFs carry: the case's opening time in UTC, to
    the second (zip times run from 1980 to 2107)."""
    t = opened_at.astimezone(UTC).replace(microsecond=0)
    return min(max(t, datetime(1980, 1, 1, tzinfo=UTC)), datetime(2107, 12, 31, tzinfo=UTC))


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _safe(text: str) -> str:
    """A platform id made safe as a folder name on any system."""
    return _SAFE_NAME.sub("_", text)[:80] or "_"


