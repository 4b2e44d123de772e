"""How a name that is not valid text is shown: the one rule for every line ``tapps`` prints
(error and warning lines, tables, ``--json``) and every message that quotes a name.

A file name's byte that is not UTF-8 reaches Python as a lone surrogate (``os.fsdecode`` makes
byte NN the character U+DCNN), and a state's JSON may hold one (``"\\ud800"``). No UTF-8 text
can hold either: :func:`escaped` writes each as text (``\\xff``, ``\\ud800``), :func:`visible`
does it for a whole string, and :func:`quoted` is ``repr`` for messages (``'lib\\xff'``, never
Python's ``'lib\\udcff'``).
"""

from __future__ import annotations


def escaped(char: str) -> str:
    """How a character the output cannot encode is written: ``\\xNN`` for an undecodable byte
    of a file name (``os.fsdecode`` makes byte NN the lone surrogate U+DCNN), ``\\uXXXX`` for
    any other lone surrogate (a state's JSON ``"\\ud800"``), else as ``backslashreplace``."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, *, backslash: str = "") -> str:
    """``text`` with each lone surrogate written as :func:`escaped` says (as wide as it prints,
    for a table), each escape preceded by ``backslash`` (``"\\"`` inside a JSON string)."""
    if text.isascii():
        return text
    import re  # loaded by argparse already

    return re.sub("[\ud800-\udfff]", lambda found: backslash + escaped(found[0]), text)


def quoted(text: str) -> str:
    """``text`` quoted as ``repr`` quotes it, for a message naming a file, a library, a
    worktree or an argument: ``'lib\\xff'`` for a name with the byte 0xff (as :func:`escaped`
    writes it everywhere else), never Python's ``'lib\\udcff'``."""
    shown = repr(text)
    if text.isascii():
        return shown
    import re  # loaded by argparse already

    # In a repr a literal backslash is doubled: skip those pairs, rewrite only the escapes.
    return re.sub(
        r"\\\\|\\u(d[89a-f][0-9a-f]{2})",
        lambda found: found[0] if found[1] is None else escaped(chr(int(found[1], 16))),
        shown,
    )


def message_text(text: str) -> str:
    """A message as it is printed: a name's byte quoted by Python's ``repr`` somewhere inside
    it (an exception's own text, argparse's ``invalid float value: '1\\udcff'``) is written
    ``\\xff`` as :func:`quoted` writes it, and a lone surrogate as :func:`visible` does."""
    if text.isascii() and "\\udc" not in text:
        return text
    import re  # loaded by argparse already

    rewritten = re.sub(
        r"\\\\|\\u(dc[89a-f][0-9a-f])",
        lambda found: found[0] if found[1] is None else escaped(chr(int(found[1], 16))),
        text,
    )
    return visible(rewritten)
