"""A moto S3 server in its own process, for tests that need a real S3 endpoint.

The server runs in a child process (not a thread of the test process) so a test
can kill it mid-transfer, see the client fail as it would against a dead
endpoint, and start it again on the same port.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["MotoServer"]

_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoServer:
    """Run ``python -m moto.server`` on ``127.0.0.1`` and a free port.

    The credentials that moto accepts are in :attr:`access_key_id`,
    :attr:`secret_access_key` and :attr:`region` (``testing``, ``testing``,
    ``us-east-1``). Moto keeps everything in memory: after :meth:`stop` or
    :meth:`kill` and a new :meth:`start`, the store is empty, except that buckets
    made with :meth:`create_bucket` are made again (empty) unless
    ``start(restore_buckets=False)``.

    >>> with MotoServer() as server:  # doctest: +SKIP
    ...     server.create_bucket("models")
    ...     backend = S3Backend("models", endpoint_url=server.endpoint_url,
    ...                         access_key_id="testing", secret_access_key="testing")
    """

    access_key_id = _CREDENTIALS["AWS_ACCESS_KEY_ID"]
    secret_access_key = _CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    region = _CREDENTIALS["AWS_DEFAULT_REGION"]

    def __init__(
        self, *, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 30.0
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix="hgloc-moto-"))
        self._buckets: list[str] = []
        self._client: Any = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MotoServer({self.endpoint_url!r}, {state})"

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``; stays the same across restarts."""
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The child's stdout and stderr (one line per request), for debugging."""
        return self._log_dir / "moto.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, restore_buckets: bool = True) -> Self:
        """Start the server and return once it answers HTTP; a no-op if running."""
        if self.running:
            return self
        env = {**os.environ, **_CREDENTIALS}
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                env=env,
                stdin=subprocess.DEVNULL,
                # A file, not a pipe: nobody reads the pipe, and a full one would
                # block the server after a few hundred requests.
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.kill()
            raise
        if restore_buckets:
            for name in self._buckets:
                self._create(name)
        return self

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM) and wait for its port to be free."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash or a network cut would."""
        self._end(signal.SIGKILL)

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name`` (remembered, so a restart recreates it) and return it."""
        self._create(name)
        if name not in self._buckets:
            self._buckets.append(name)
        return name

    def client(self) -> Any:
        """A plain (blocking) botocore S3 client for this server, to inspect state."""
        if self._client is None:
            import botocore.config
            import botocore.session

            session = botocore.session.get_session()
            self._client = session.create_client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                region_name=self.region,
                config=botocore.config.Config(
                    s3={"addressing_style": "path"}, retries={"max_attempts": 2}
                ),
            )
        return self._client

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc is None:  # keep the log when something went wrong
            shutil.rmtree(self._log_dir, ignore_errors=True)

    def _create(self, name: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Pooled keep-alive connections point at the dead process.
        if self._client is not None:
            self._client.close()
            self._client = None

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with code {self._process.returncode}:\n{self._log_tail()}"
                )
            if self._answers():
                return
            time.sleep(0.05)
        raise TimeoutError(
            f"moto server on {self.endpoint_url} did not answer within "
            f"{self.startup_timeout} s:\n{self._log_tail()}"
        )

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            # The dashboard route: answered by moto itself, no S3 state involved.
            connection.request("GET", "/moto-api/")
            return connection.getresponse().status < 500
        except OSError:
            return False
        finally:
            connection.close()

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
