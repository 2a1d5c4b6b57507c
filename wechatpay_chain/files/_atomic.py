"""`AtomicFile`: write a file beside its destination, then rename it over the destination in one step.

    with AtomicFile(path, 0o600, encoding="utf-8") as fh:   # commit on a clean exit, abort on an exception
        fh.write(text)

    staged = AtomicFile(path, 0o644)                        # or by hand: write, then commit() or abort()
    staged.write(data)
    staged.commit()

The temp file is `.<name>.<random>.tmp` in the destination's directory (so the rename never crosses a file
system), created with `O_CREAT | O_EXCL | O_NOFOLLOW` and `mode` (the umask can only narrow it), so neither a
file nor a symlink planted at the temp name is written through. `os.replace` swaps a symlink at the
destination for the new file instead of following it. Until `commit()` the destination keeps its old content;
`abort()` (or any failure in `commit()`) removes the temp file.

This module imports nothing from the package: the CLI, the keys and the file helpers all build on it.
"""

from __future__ import annotations

import os
import secrets
from types import TracebackType
from typing import IO, Any, Optional, Type, Union

__all__ = ["AtomicFile"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _temp_name(path: Union[str, os.PathLike[str]]) -> str:
    """A fresh temp path beside `path`: `<dir>/.<name>.<16 hex>.tmp`."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")


class AtomicFile:
    """A staged replacement for `path`: `write()` to it, then `commit()` (fsync, set the mode, rename over
    `path`) or `abort()` (close, unlink). Text when `encoding` is given, bytes otherwise.

    `mode` is set exactly at commit (fchmod), whatever the umask; with `keep_umask=True` it is only the
    creation mode, narrowed by the umask as `open()` would. `sync()` does commit's first half (flush, fsync,
    close, chmod) so several files can all be made durable before any of them is renamed.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        mode: int = 0o644,
        encoding: Optional[str] = None,
        *,
        keep_umask: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.mode = mode
        self.keep_umask = keep_umask
        self.temp = _temp_name(self.path)
        fd = os.open(self.temp, _FLAGS, mode)
        try:
            self.file: IO[Any] = os.fdopen(fd, "wb" if encoding is None else "w", encoding=encoding)
        except BaseException:  # e.g. an unknown encoding
            try:
                os.close(fd)
            except OSError:  # fdopen may have closed it already
                pass
            os.unlink(self.temp)
            raise
        self._synced = False
        self._done = False

    def __repr__(self) -> str:
        state = "done" if self._done else "synced" if self._synced else "open"
        return f"<AtomicFile {self.path!r} {state}>"

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    @property
    def done(self) -> bool:
        """Committed or aborted: nothing more to do (commit() and abort() are then no-ops)."""
        return self._done

    def write(self, data: Any) -> int:
        """Write `str` (text mode) or `bytes` to the temp file."""
        return self.file.write(data)

    def sync(self) -> None:
        """Flush and fsync the temp file, set its mode, close it (commit() calls it if not called yet)."""
        if self._synced or self._done:
            return
        try:
            self.file.flush()
            fileno = self.file.fileno()
            os.fsync(fileno)
            if not self.keep_umask:
                if hasattr(os, "fchmod"):
                    os.fchmod(fileno, self.mode)
                else:  # pragma: no cover - Windows has no fchmod
                    os.chmod(self.temp, self.mode)
            self.file.close()
        except BaseException:
            self.abort()
            raise
        self._synced = True

    def commit(self) -> str:
        """Make the temp file durable and rename it over `path`; returns `path`. On failure the temp file is
        removed and `path` keeps its old content."""
        if self._done:
            return self.path
        self.sync()
        try:
            os.replace(self.temp, self.path)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.path

    def abort(self) -> None:
        """Close and remove the temp file; `path` is left as it was. A no-op once committed or aborted."""
        if self._done:
            return
        self._done = True
        try:
            self.file.close()
        except OSError:  # the content is being thrown away; a failed flush must not hide the caller's error
            pass
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass
