"""The real tapps-agents 3.7 package's Context7 knowledge-base cache, as it lays it out on disk.

Under ``.tapps-agents/kb/context7-cache/``: ``libraries/<library, lower-cased>/<topic>.md`` (a
header, the content, and ``<!-- KB Metadata -->`` comments), ``meta.yaml`` beside them, and
``index.yaml`` (plus ``cross-references.yaml``, ``topics/``, ``.refresh-queue`` and
``.locks/<library>.lock`` while a store holds it). Timestamps are written as that package
writes them: the UTC ISO time with a ``Z`` added after its offset (``...+00:00Z``). The
package keeps no hashes: an entry is a topic file and its library's metadata.

Only writing lives here (for fabricating real-looking trees); the layout is described once, in
:data:`~pytest_tapps.core._layout.TAPPS_AGENTS_3_7`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from pytest_tapps.core._errors import UnsafeNameError
from pytest_tapps.core._fsutil import write_atomic
from pytest_tapps.core._layout import Layout, safe_name
from pytest_tapps.core._shown import quoted


def _stamp(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def topic_of(document: str) -> str:
    """The topic a document is stored under: its name without ``.md`` (one path component)."""
    return safe_name(document.removesuffix(".md"), what="topic")


def topic_document(library: str, topic: str, content: str, *, now: datetime) -> str:
    """A ``<topic>.md`` file as ``KBCache.store`` writes it (no trailing newline)."""
    stamp = _stamp(now)
    tokens = len(content) // 4
    return (
        f"# {library} - {topic}\n\n"
        f"**Snippets**: 0 | **Tokens**: {tokens}\n"
        f"**Last Updated**: {stamp} | **Cache Hits**: 0\n\n---\n\n{content}\n\n---\n\n"
        "<!-- KB Metadata -->\n"
        f"<!-- Library: {library} -->\n<!-- Topic: {topic} -->\n"
        f"<!-- Snippet Count: 0 -->\n<!-- Last Updated: {stamp} -->\n"
        f"<!-- Cache Hits: 0 -->\n<!-- Token Count: {tokens} -->"
    )


def _yaml_scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    import json

    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def write_kb_entry(
    layout: Layout, library: str, documents: Mapping[str, str | bytes], *, now: datetime
) -> Path:
    """Write ``library``'s topics (documents named ``<topic>.md``) with its ``meta.yaml`` and
    an ``index.yaml`` listing every library in the cache; return the library's folder."""
    if not documents:
        message = f"library {quoted(library)}: no documents to cache"
        raise UnsafeNameError(message)
    folder = layout.context7_entry(library.lower())
    topics = []
    for name, content in sorted(documents.items()):
        topic = topic_of(name)
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        write_atomic(folder / f"{topic}.md", topic_document(library, topic, text, now=now).encode())
        topics.append(topic)
    meta = [
        f"library: {_yaml_scalar(library)}",
        "context7_id: null",
        "trust_score: null",
        "topics:",
        *(f"- {_yaml_scalar(topic)}" for topic in topics),
        "total_docs: 0",
        "total_size_bytes: 0",
        "total_tokens: 0",
        "last_updated: null",
        f"last_accessed: {_stamp(now)}",
        "cache_hits: 0",
    ]
    write_atomic(folder / "meta.yaml", ("\n".join(meta) + "\n").encode())
    _write_index(layout, now=now)
    return folder


def _write_index(layout: Layout, *, now: datetime) -> None:
    """``index.yaml`` of every library folder now in the cache (its topics, cached now)."""
    libraries = layout.context7_cache_dir
    root = libraries.parent
    lines = ["version: '1.0'", f"last_updated: {_stamp(now)}"]
    entries = []
    for library in sorted(p for p in libraries.iterdir() if p.is_dir() and not p.is_symlink()):
        topics = sorted(p.stem for p in library.glob("*.md"))
        entries.append((library.name, topics))
    lines.append(f"total_entries: {sum(len(t) for _, t in entries)}")
    lines.append("libraries:" if entries else "libraries: {}")
    for name, topics in entries:
        lines += [f"  {_yaml_scalar(name)}:", "    context7_id: null"]
        lines.append("    topics:" if topics else "    topics: {}")
        for topic in topics:
            lines += [f"      {_yaml_scalar(topic)}:", f"        cached_at: {_stamp(now)}"]
    write_atomic(root / "index.yaml", ("\n".join(lines) + "\n").encode())
    cross = root / "cross-references.yaml"
    if not cross.exists():
        write_atomic(cross, b"version: '1.0'\nlast_updated: null\ntopics: {}\n")
    (root / "topics").mkdir(exist_ok=True)
