"""A store in a folder of the local filesystem, with atomic writes."""

from __future__ import annotations

import datetime as dt
import errno
import os
import secrets
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path

import anyio
import anyio.to_thread

from hgloc.backends._file_reads import ChunkReader
from hgloc.backends._group_commit import GroupCommitter
from hgloc.backends._keys import validate_key, validate_prefix
from hgloc.backends._protocol import ObjectInfo
from hgloc.errors import ObjectNotFoundError, StorePermissionError

__all__ = ["LocalBackend"]

_READ_BATCH = 512  # small files read per thread hop
_TMP_PREFIX = ".hgloc-tmp-"  # temp files live beside their target, so rename is atomic


class LocalBackend:
    """Objects are files under ``root``; keys are their relative paths.

    Writes go to a temp file in the target's folder and are renamed into place,
    so a reader or a crash never sees half a file.

    >>> backend = LocalBackend("/tmp/store")  # doctest: +SKIP
    >>> await backend.write("gpt2/default_revision/config.json", b"{}")  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self._root_str = str(self.root)
        self._real_root = os.path.realpath(self.root)
        self._safe_folders: set[Path] = set()
        self._commits = GroupCommitter(self._root_str, _TMP_PREFIX, _unlink_quietly)

    @property
    def name(self) -> str:
        return f"local:{self.root}"

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The filesystem path of ``key`` (validated; always inside ``root`` by name)."""
        return Path(self._fs_path(key))

    def _fs_path(self, key: str) -> str:
        # Plain strings: pathlib costs more than the I/O when listing 10,000 models.
        return self._root_str + "/" + validate_key(key)

    def target_path(self, key: str) -> Path:
        """The path to write or delete ``key`` at, refusing symlinked folders that lead out.

        validate_key already refuses '..'; a folder inside the store that is a
        symlink to elsewhere is refused here. Only the folders below the root
        are looked at (one lstat each), and folders found safe are remembered.
        """
        path = self.path(key)
        parent = path.parent
        if parent not in self._safe_folders:
            folder = self._root_str
            for part in key.split("/")[:-1]:
                folder = f"{folder}/{part}"
                if os.path.islink(folder):
                    real = os.path.realpath(folder)
                    if real != self._real_root and not real.startswith(self._real_root + os.sep):
                        raise StorePermissionError(
                            f"key {key!r} resolves outside the store {self.root}"
                        )
            if len(self._safe_folders) < 100_000:
                self._safe_folders.add(parent)
        return path

    def _folder(self, prefix: str) -> Path:
        """The folder a listing of ``prefix`` walks (validated)."""
        prefix = validate_prefix(prefix)
        return self.root.joinpath(*prefix.split("/")) if prefix else self.root

    def location(self, key: str) -> str:
        return self._fs_path(key)

    async def read(self, key: str) -> bytes:
        path = self._fs_path(key)
        # Asking whether a model is cached mostly finds nothing: one stat answers
        # that without a thread hop, which costs more than the stat itself.
        if not os.path.lexists(path):  # noqa: ASYNC240 - see above
            raise ObjectNotFoundError(f"no object {key!r} in {self.name}")
        with _mapped(key):
            return await anyio.to_thread.run_sync(_read_file, path)

    async def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        paths = [(key, self._fs_path(key)) for key in keys]
        # One thread hop per batch: listing 10,000 models reads 10,000 small files.
        out: dict[str, bytes] = {}
        for start in range(0, len(paths), _READ_BATCH):
            out.update(
                await anyio.to_thread.run_sync(_read_all, paths[start : start + _READ_BATCH])
            )
        return out

    async def read_stream(
        self,
        key: str,
        *,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = 1 << 20,
    ) -> AsyncIterator[bytes]:
        path = self.path(key)
        with _mapped(key):
            file = await anyio.to_thread.run_sync(open, path, "rb")
        try:
            reader = ChunkReader(file, chunk_size)
            offset = start
            while end is None or offset < end:
                size = chunk_size if end is None else min(chunk_size, end - offset)
                chunk = await reader.read(size, offset)
                if not chunk:
                    return
                offset += len(chunk)
                yield chunk
        finally:
            file.close()

    async def write(self, key: str, data: bytes) -> None:
        await self._commits.write([(self.target_path(key), data)])

    async def write_many(self, items: Mapping[str, bytes]) -> None:
        paths = [(self.target_path(key), data) for key, data in items.items()]
        # Small files from many tasks share thread hops and syncs (group commit).
        await self._commits.write(paths)

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self.target_path(key)
        tmp = await anyio.to_thread.run_sync(_open_temp, path)
        written = 0
        try:
            async with await anyio.open_file(tmp, "wb") as handle:
                async for chunk in chunks:
                    await handle.write(chunk)
                    written += len(chunk)
                await anyio.to_thread.run_sync(_flush_and_sync, handle.wrapped)
            await anyio.to_thread.run_sync(os.replace, tmp, path)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_unlink_quietly, tmp)
            raise
        return written

    async def exists(self, key: str) -> bool:
        return await anyio.Path(self.path(key)).is_file()

    async def stat(self, key: str) -> ObjectInfo:
        path = self.path(key)
        with _mapped(key):
            st = await anyio.Path(path).stat()
        if not _is_regular(st.st_mode):
            raise ObjectNotFoundError(f"no object {key!r} in {self.name}")
        return ObjectInfo(key, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        folder = self._folder(prefix)
        if _absent(folder):
            return
        # One thread hop for the whole walk: listing 10,000 models must stay fast.
        infos = await anyio.to_thread.run_sync(_walk, folder, self.root)
        for info in infos:
            yield info

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        folder = self._folder(prefix)
        if _absent(folder):
            return
        for key in await anyio.to_thread.run_sync(_walk_keys, folder, self.root):
            yield key

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(_unlink_quietly, self.target_path(key))

    async def aclose(self) -> None:
        return None


def _absent(folder: Path) -> bool:
    """Whether ``folder`` does not exist: a listing of it finds nothing.

    Asking for a folder that is not there is common (a model's other folders, on
    every miss of a bulk run): one stat answers it without a thread hop, which costs
    more than the stat. Any other error is left to the walk, which reports it.
    """
    try:
        os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)


class _mapped:
    """Translate filesystem errors into hgloc's, naming the key."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
            raise ObjectNotFoundError(f"no object {self.key!r} in the store") from exc
        if isinstance(exc, PermissionError):
            raise StorePermissionError(f"permission denied for {self.key!r}: {exc}") from exc


def _open_temp(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are 0600. A cache is read by other tools and users,
    # so the file gets 0666 minus the umask, like any file the user creates.
    while True:
        tmp = str(path.parent / f"{_TMP_PREFIX}{secrets.token_hex(8)}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        os.close(fd)
        return tmp


def _flush_and_sync(handle: object) -> None:
    handle.flush()  # type: ignore[attr-defined]
    os.fsync(handle.fileno())  # type: ignore[attr-defined]


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _read_all(paths: list[tuple[str, str]]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, path in paths:
        try:
            with open(path, "rb") as handle:
                out[key] = handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        except PermissionError as exc:
            raise StorePermissionError(f"permission denied for {key!r}: {exc}") from exc
    return out


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _walk(base: Path, root: Path) -> list[ObjectInfo]:
    out: list[ObjectInfo] = []
    root_len = len(str(root)) + 1
    for entry in _scan(base):
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # removed since scandir saw it (a refresh, a staging part)
            continue
        out.append(
            ObjectInfo(
                entry.path[root_len:].replace(os.sep, "/"),
                st.st_size,
                dt.datetime.fromtimestamp(st.st_mtime, dt.UTC),
            )
        )
    return out


def _walk_keys(base: Path, root: Path) -> list[str]:
    # Names only: a DirEntry knows file from folder without a stat.
    root_len = len(str(root)) + 1
    return [entry.path[root_len:].replace(os.sep, "/") for entry in _scan(base)]


def _scan(base: Path) -> Iterator[os.DirEntry[str]]:
    """Every file under ``base`` (symlinks not followed), in-flight temp files left out."""
    stack = [str(base)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False) and not entry.name.startswith(
                        _TMP_PREFIX
                    ):
                        yield entry
        except (FileNotFoundError, NotADirectoryError):
            continue
