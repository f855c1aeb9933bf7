"""Types of the C head splitter (appserver/http/_plain.c), for mypy: the same
contract as ``appserver.http.plain.split_python``."""
from typing import Optional

from .plain import Split

def split(buf: bytes, size: int, max_fields: int) -> Optional[Split]: ...
