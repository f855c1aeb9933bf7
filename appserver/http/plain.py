"""The plain-head fast path of the request parser: split a head that is
plainly well formed, or say it is not. Pure: no state, no I/O.

Contract: ``split(buf, size, max_fields)`` looks at ``buf[:size]`` (a head
up to and including the CRLF of its last field line, without the empty
line). If it is "token SP origin-form-target SP HTTP/1.x" then at most
``max_fields`` "token:value" field lines, with no control bytes, no folding,
no whitespace before a line's CRLF, no ``_`` in a field name and no CONNECT,
it returns ``(method, target, path, query, version, line, headers, groups)``:
str parts, the request line, the (name, value) pairs in order (values
without their leading whitespace) and, by lower-case name, the lists of
values of the fields ``head.semantics`` needs (``body.SPECIAL_FIELDS``).
Otherwise it returns None and the parser's general path, which names the
first violation, takes the head. The outcome is what the byte-by-byte checks
of that path would find for a head they accept.

Two implementations, kept equal: ``split_python`` here, and the C extension
``appserver.http._plain`` (built by ``pip install``, optional: without a
compiler it is skipped). ``split`` is the C one when it was built; the tests
replay the request corpus through both and compare them on generated heads.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from .body import SPECIAL_FIELDS

# The request line; its groups: method, target (path, then the query after
# the first "?"), version.
_PLAIN_LINE = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) "
    r"((/[\x21\x22\x24-\x3e\x40-\x7e]*)(?:\?([\x21\x22\x24-\x7e]*))?) (HTTP/1\.[01])\r\n")
# One field line: name, and value without its leading whitespace (a value
# never ends in whitespace here). Any other byte matches the second branch
# alone, with an empty name: ``findall`` then covers the field lines end to
# end, and an empty name anywhere means the head is not plain.
_PLAIN_FIELD = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*"
    r"((?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)\r\n|[\s\S]")

# What ``split`` returns for a plain head: method, target, path, query,
# version, request line, (name, value) pairs, values by special field name.
Split = Tuple[str, str, str, str, str, str, List[Tuple[str, str]], Dict[str, List[str]]]


def split_python(buf: bytes, size: int, max_fields: int) -> Optional[Split]:
    """``split`` in Python: one regex pass over the request line and one
    over the field lines prove the head plain and split it as they go."""
    text = buf[:size].decode("latin-1")
    match = _PLAIN_LINE.match(text)
    if match is None:
        return None
    method, target, path, query, version = match.groups()
    fields_at = match.end()
    headers = _PLAIN_FIELD.findall(text, fields_at)
    if method == "CONNECT" or len(headers) > max_fields:
        return None
    groups: Dict[str, List[str]] = {}
    for name, value in headers:
        key = name.lower()
        if key in SPECIAL_FIELDS:
            if key in groups:
                groups[key].append(value)
            else:
                groups[key] = [value]
        elif not name or "_" in name:
            return None
    return (method, target, path, query or "", version, text[:fields_at - 2],
            headers, groups)


try:
    from ._plain import split
except ImportError:         # not built (no compiler at install time)
    split = split_python
