"""Running ASGI apps for tests: uvicorn in a daemon thread, or the emulator in a subprocess.

:func:`run_asgi_in_thread` is the one helper that runs the emulator and the
apps of ``hgloc serve`` under test; both bind with :func:`hgloc.serve.bind`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import hgloc
from hgloc.serve import bind, http_impl, load_uvicorn

from ._faults import Faults
from ._hub_app import ConnectionDropped, Grant, HubApp, RequestRecord
from ._repos import Repo
from ._xet import XetMode

__all__ = ["HubEmulator", "run_asgi_in_thread"]

# Where a child interpreter finds hgloc_testing and hgloc (src/ folders, or site-packages).
_IMPORT_ROOTS = (
    str(Path(__file__).resolve().parents[1]),
    str(Path(hgloc.__file__ or "").resolve().parents[1]),
)


class _QuietDrops(logging.Filter):
    """Hide uvicorn's traceback for connections the emulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


class HubEmulator:
    """A Hugging Face Hub on loopback, serving ``repos`` (see docs/hub-protocol.md).

    - ``renames``: ``{old_id: new_id}``; requests for ``old_id`` answer 307 to ``new_id``.
    - ``tokens``: ``{token: grant}`` where a grant is a user name (``str``: that
      namespace's private and gated repos), a collection of repo ids, or a
      :class:`Grant`. Unknown tokens count as anonymous unless
      ``reject_invalid_tokens`` (then 401 "Invalid credentials", as the real Hub).
    - ``faults``: a :class:`Faults`, mutable while running; ``latency`` is a
      shortcut for ``faults.latency``.
    - ``page_size``: tree listing entries per page (the Hub uses 1000).
    - ``resolver_quota`` per ``resolver_window`` seconds: /resolve/ rate limit.
    - ``cdn_base``: where LFS downloads are redirected; default: the same port on
      the other loopback name (``localhost`` when the hub is reached as
      ``127.0.0.1``), so clients see a different host and must drop auth.
    - ``record_requests``: keep a :class:`RequestRecord` per request in
      :attr:`requests` (turn off for benchmarks).
    - ``xet``: a :class:`XetMode` to answer as the Hub does for Xet-backed files
      (signed, expiring CDN links and the Xet hints); ``None``: the Git-LFS Hub.
    """

    def __init__(
        self,
        repos: Iterable[Repo] = (),
        *,
        renames: Mapping[str, str] | None = None,
        tokens: Mapping[str, str | Collection[str] | Grant] | None = None,
        faults: Faults | None = None,
        latency: float = 0.0,
        page_size: int = 1000,
        resolver_quota: int = 100_000,
        resolver_window: int = 300,
        cdn_base: str | None = None,
        record_requests: bool = True,
        reject_invalid_tokens: bool = False,
        xet: XetMode | None = None,
    ) -> None:
        faults = faults or Faults()
        if latency:
            faults.latency = latency
        self.app = HubApp(
            repos,
            renames=renames,
            tokens=tokens,
            faults=faults,
            page_size=page_size,
            resolver_quota=resolver_quota,
            resolver_window=resolver_window,
            cdn_base=cdn_base,
            record_requests=record_requests,
            reject_invalid_tokens=reject_invalid_tokens,
            xet=xet,
        )
        self.url: str | None = None

    # -- state shared with the running app ----------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The live fault knobs; mutate fields or assign a new :class:`Faults` (reseeds)."""
        return self.app.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.app.faults = faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Requests answered so far, oldest first."""
        return self.app.requests

    def reset_requests(self) -> None:
        self.app.requests.clear()

    @property
    def repos(self) -> Mapping[str, Repo]:
        return self.app.repos

    def add_repo(self, repo: Repo) -> None:
        """Serve ``repo`` from now on (replaces a repo with the same id)."""
        self.app.add_repo(repo)

    def push_commit(
        self, repo_id: str, files: Mapping[str, bytes | None], branch: str | None = None
    ) -> str:
        """Commit ``files`` on ``branch`` (default branch if ``None``); returns the new sha.

        ``files`` updates the branch head: ``None`` deletes a path, other paths are kept.
        """
        return self.app.repos[repo_id].push(files, branch)

    # -- running ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def run_in_thread(self, *, startup_timeout: float = 10.0) -> Iterator[str]:
        """Serve on ``127.0.0.1:<free port>`` from a daemon thread; yields the base URL."""
        if self.url is not None:
            raise RuntimeError(f"emulator already running at {self.url}")
        _install_log_filter()
        with run_asgi_in_thread(
            self.app, name="hub-emulator", http=http_impl(), startup_timeout=startup_timeout
        ) as url:
            self.url = url
            try:
                yield url
            finally:
                self.url = None

    @staticmethod
    @contextlib.contextmanager
    def run_in_subprocess(
        corpus_size: int = 100,
        latency: float = 0.0,
        *,
        seed: int = 0,
        page_size: int | None = None,
        resolver_quota: int | None = None,
        record_requests: bool = False,
        cdn_bandwidth: int = 0,
        startup_timeout: float = 30.0,
    ) -> Iterator[str]:
        """Serve ``make_corpus(corpus_size, seed)`` from ``python -m hgloc_testing.hub``.

        The server gets its own process (and GIL), so a benchmark measures the client
        and not the emulator. Yields the base URL; the process is terminated on exit.
        ``cdn_bandwidth`` > 0: Xet mode (:class:`XetMode`), each CDN connection capped
        at that many bytes/s.
        """
        cmd = [
            sys.executable,
            "-m",
            "hgloc_testing.hub",
            "--corpus",
            str(corpus_size),
            "--latency",
            str(latency),
            "--seed",
            str(seed),
        ]
        if page_size is not None:
            cmd += ["--page-size", str(page_size)]
        if resolver_quota is not None:
            cmd += ["--resolver-quota", str(resolver_quota)]
        if record_requests:
            cmd.append("--record-requests")
        if cdn_bandwidth > 0:
            cmd += ["--cdn-bandwidth", str(cdn_bandwidth)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in dict.fromkeys((*_IMPORT_ROOTS, env.get("PYTHONPATH"))) if p
        )
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], startup_timeout)
            line = proc.stdout.readline().decode().strip() if ready else ""
            if not line.startswith("http://"):
                raise RuntimeError(f"hub emulator subprocess did not start (exit {proc.poll()})")
            yield line
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()


@contextlib.contextmanager
def run_asgi_in_thread(
    app: Any,
    *,
    name: str,
    lifespan: str = "off",
    http: str = "auto",
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on ``127.0.0.1:<free port>`` from a daemon thread.

    Yields the base URL; stops the server (and waits for it) on exit. Used by
    the emulator and by the tests of ``hgloc serve``.
    """
    uvicorn = load_uvicorn("running a test server needs uvicorn: pip install 'hgloc[test]'")
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,
        access_log=False,
        http=http,
        interface="asgi3",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"{name}:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"{name} failed to start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():  # a client kept a request open: stop waiting for it
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()
