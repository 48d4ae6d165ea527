"""``hgloc serve --workers N``: N uvicorn worker processes on one listening socket.

uvicorn's supervisor spawns the workers (fresh interpreters): each builds its
own app from the settings handed down in an environment variable, so each
has its own event loop, store clients and caches. The socket is bound once by
the parent, so the kernel spreads connections across the workers.
"""

from __future__ import annotations

import base64
import os
import pickle
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

from hgloc.config import Config

__all__ = ["ARGS_ENV", "FACTORY", "run_workers", "worker_settings"]

ARGS_ENV = "HGLOC_SERVE_WORKER_ARGS"
FACTORY = "hgloc.serve:_worker_app"
"""What each worker imports to build its app (next to ``create_app``)."""


def worker_settings() -> tuple[Config, dict[str, Any]]:
    """The parent's settings, in a worker: ``create_app``'s config and options."""
    # Written by run_workers in the parent, read by its own children only.
    config, options = pickle.loads(base64.b64decode(os.environ[ARGS_ENV]))
    return config, options


def run_workers(
    uvicorn: ModuleType,
    sock: socket.socket,
    workers: int,
    config: Config,
    app_options: dict[str, Any],
    server_options: dict[str, Any],
    on_ready: Callable[[], object] | None,
) -> None:
    """Serve on ``sock`` with ``workers`` processes until Ctrl-C (or SIGTERM)."""
    from uvicorn.supervisors import Multiprocess

    os.environ[ARGS_ENV] = base64.b64encode(pickle.dumps((config, app_options))).decode()
    settings = uvicorn.Config(FACTORY, factory=True, workers=workers, **server_options)
    supervisor = Multiprocess(settings, sockets=[sock])
    if on_ready is not None:
        on_ready()  # the socket listens: connections queue until a worker accepts them
    supervisor.run()
