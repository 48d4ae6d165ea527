"""``hgloc serve`` on the command line: options, defaults, and a real run in a child process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from hgloc.cli import _serve_command, cli

from .conftest import CARDS, CONFIG_V2, Store

SRC = Path(__file__).resolve().parents[2] / "src"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_binds_loopback_by_default() -> None:
    import hgloc.serve

    options = {p.name: p for p in cli.commands["serve"].params}
    assert options["host"].default == "127.0.0.1" == hgloc.serve.DEFAULT_HOST
    assert options["port"].default == 8080 == hgloc.serve.DEFAULT_PORT
    assert _serve_command.DEFAULT_HOST == hgloc.serve.DEFAULT_HOST
    assert options["token"].envvar == "HGLOC_SERVE_TOKEN"
    assert not options["upstream"].required  # no pull-through unless asked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--store", "x", "--s3"], "give one"),
        (["serve", "--s3"], "HGLOC_S3_BUCKET_NAME"),
        (["serve", "--upstream", "ftp://hub"], "http(s) URL"),
        (["serve", "--token", " "], "--token is empty"),
    ],
)
def test_bad_options_exit_2_before_anything_starts(args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2
    assert message in output


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = invoke("serve", "--store", str(tmp_path), "--port", str(port))
    assert code == 1
    assert output.startswith(f"Error: cannot listen on 127.0.0.1:{port}")


def test_a_bucket_without_credentials_fails_the_start(tmp_path: Path) -> None:
    env = {
        "HGLOC_S3_BUCKET_NAME": "team-models",
        "HGLOC_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    code, output = invoke("--store", str(tmp_path), "serve", "--s3", "--port", "0", env=env)
    assert code == 1
    assert "AWS credentials" in output


@pytest.fixture
def child(local_store: Store, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -m hgloc serve --port 0`` on the filled local store; yields it and its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HGLOC_", "HF_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env["HF_HOME"] = str(tmp_path / "hf")
    store = str(local_store.config.models_store_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hgloc", "--store", store, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    url = ""
    deadline = time.monotonic() + 30
    lines = []
    while not url and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        found = re.search(r"at (http://\S+)", line)
        url = found.group(1) if found else ""
    try:
        assert url, "".join(lines)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()


def test_the_command_serves_on_loopback_and_stops_on_ctrl_c(
    child: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = child
    assert url.startswith("http://127.0.0.1:")  # the default host
    r = httpx2.get(f"{url}/{CARDS}/resolve/main/config.json", timeout=10)
    assert r.status_code == 200 and r.content == CONFIG_V2
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None and proc.stdout is not None
    assert f"GET /{CARDS}/resolve/main/config.json" in proc.stdout.read()  # the access log
    rest = proc.stderr.read()
    assert "Traceback" not in rest and "Aborted" not in rest
