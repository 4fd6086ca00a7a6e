"""How long work reports its progress: a callback the caller may pass (the CLI draws a bar or logs).

`progress(task, done, total)`: `task` names what is counted ("blocks", "notes", ...), `done` of
`total` units are finished. Called after each step; the library prints nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, int, int], None]
