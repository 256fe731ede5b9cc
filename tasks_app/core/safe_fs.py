"""File access on the host that never follows a symlink below a trusted root.

Two kinds of folders hold content TFactory does not control: the worktree (a
repository may commit symlinks, e.g. `requirements.txt -> ~/.ssh/id_rsa`) and every
folder a sandboxed run could write (it may plant `results.json -> /etc/passwd`).
Code on the host reads and writes inside them only through these functions: each
path component below `root` is opened with O_NOFOLLOW relative to its parent's
descriptor, so a link anywhere on the way makes the call fail with UnsafePath.
`root` itself must be a directory TFactory created or chose.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(OSError):
    """A symlink, a non-regular file or a path that leaves its root."""


def _parts(rel: str | PurePosixPath) -> list[str]:
    p = PurePosixPath(rel)
    if p.is_absolute() or any(part in ("..", "") for part in p.parts):
        raise UnsafePath(errno.EINVAL, f"not a plain relative path: {rel}")
    return [part for part in p.parts if part != "."]


@contextmanager
def _dir_fd(root: Path, parts: list[str], create: bool = False) -> Iterator[int]:
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(exc.errno, f"{part} is a symlink or not a directory") from exc
                raise
            os.close(fd)
            fd = nfd
        yield fd
    finally:
        os.close(fd)


def read_bytes(root: Path, rel: str, limit: int = 50_000_000) -> bytes:
    """Contents of the regular file root/rel; UnsafePath for links and special files."""
    *dirs, name = _parts(rel)
    with _dir_fd(root, dirs) as dfd:
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePath(exc.errno, f"{rel} is a symlink") from exc
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafePath(errno.EINVAL, f"{rel} is not a regular file")
            if info.st_size > limit:
                raise UnsafePath(errno.EFBIG, f"{rel} is larger than {limit} bytes")
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def read_text(root: Path, rel: str, limit: int = 50_000_000) -> str:
    return read_bytes(root, rel, limit).decode("utf-8", errors="replace")


def write_bytes(root: Path, rel: str, data: bytes, mode: int = 0o644) -> None:
    """Create or replace root/rel (parents created); never writes through a link."""
    *dirs, name = _parts(rel)
    with _dir_fd(root, dirs, create=True) as dfd:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise UnsafePath(errno.EEXIST, f"{rel} exists and is not a regular file")
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
            mode,
            dir_fd=dfd,
        )
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def write_text(root: Path, rel: str, text: str) -> None:
    write_bytes(root, rel, text.encode())


def makedirs(root: Path, rel: str) -> None:
    with _dir_fd(root, _parts(rel), create=True):
        pass


def list_files(root: Path, rel: str = ".") -> list[str]:
    """Names of the regular files (not links) directly in root/rel."""
    with _dir_fd(root, _parts(rel)) as dfd:
        names = []
        for name in os.listdir(dfd):
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                names.append(name)
        return sorted(names)


def is_regular_file(root: Path, rel: str) -> bool:
    try:
        *dirs, name = _parts(rel)
        with _dir_fd(root, dirs) as dfd:
            return stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
    except OSError:
        return False
