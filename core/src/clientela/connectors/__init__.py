"""The old name of two packages, kept so plugins written against it still import.

`clientela.connectors` held both the HTTP stack and the source toolkit, while the
top-level `connectors/` holds every platform, sources and destinations alike. They
are now `clientela.http` (calling a platform: client, retries, errors, pacing) and
`clientela.sources.toolkit` (declaring a source's streams, pages, cursors, mapping).
Import from those; this alias goes in the next minor release.
"""

from __future__ import annotations

import sys

from clientela.http import *  # noqa: F403
from clientela.http import client, errors, jsonbody, ratelimit, retry
from clientela.sources.toolkit import *  # noqa: F403
from clientela.sources.toolkit import config, cursor, declare, mapping, pagination

_MOVED = {"http": client, "errors": errors, "jsonbody": jsonbody, "ratelimit": ratelimit,
          "retry": retry, "config": config, "cursor": cursor, "declare": declare,
          "mapping": mapping, "pagination": pagination}
for _name, _module in _MOVED.items():
    sys.modules[f"{__name__}.{_name}"] = _module
