"""Files that hold secrets (the demo's API keys, env files that may carry keys): written readable by
the owner only, never through a symbolic link, never half-written.

A file is written to a new temporary file in the same directory (created 0600 by `mkstemp`),
flushed to disk, then renamed over the path: an existing file ends 0600 whatever its mode was, a
reader sees the old contents or the new, and a symbolic link planted at the path is refused before
anything is written (and a link planted after the check is replaced by the rename, never followed).
Existing contents are read with `O_NOFOLLOW` for the same reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


class UnsafeSecretPath(OSError):
    """The path of a secret file is a symbolic link or not a regular file: nothing was written."""


def _check_path(path: Path) -> bool:
    """Whether a regular file is at `path` (False: nothing is); UnsafeSecretPath for anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeSecretPath(
            errno.ELOOP, "refusing to write a secret file through a symbolic link", str(path)
        )
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeSecretPath(
            errno.EINVAL, "refusing to write a secret file over a non-regular file", str(path)
        )
    return True


def read_private_text(path: Path) -> str | None:
    """The text of the secret file at `path` (None if there is none), opened with `O_NOFOLLOW`:
    UnsafeSecretPath if it is a symbolic link or not a regular file."""
    if not _check_path(path):
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeSecretPath(
                errno.ELOOP, "refusing to read a secret file through a symbolic link", str(path)
            ) from exc
        raise
    with os.fdopen(descriptor, encoding="utf-8") as source:
        return source.read()


def write_private_text(path: Path, text: str) -> Path:
    """Replace the file at `path` with `text`, mode 0600 (see the module's docstring); a missing
    parent directory is created 0700. UnsafeSecretPath if `path` is a symbolic link or not a regular
    file."""
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    _check_path(path)
    descriptor, temporary = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), PRIVATE_FILE_MODE)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Set `values` (NAME=value lines) in the env file at `path`, keeping its other lines. An env
    file may carry secrets (CREDCHAIN_MASTER_SECRET, keys): it is read and written as a secret
    file (`service.secret_files`: 0600, never through a symbolic link)."""
    lines = (read_private_text(path) or "").splitlines()
    kept: list[str] = []
    for line in lines:
        name = line.split("=", 1)[0].strip()
        if name.removeprefix("export ").strip() not in values:
            kept.append(line)
    kept.extend(f"{name}={value}" for name, value in values.items())
    write_private_text(path, "\n".join(kept) + "\n")
