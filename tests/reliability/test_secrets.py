"""Secrets: the Hub token and the AWS keys appear nowhere, and the token goes to the Hub only.

Everything a run leaves behind is searched for them: every log record (all
loggers, DEBUG), every error message, every report (``as_dict()``, CLI ``--json``),
every file of the local store and every object of the bucket (bodies and user
metadata), and the reprs of the objects that hold them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from click.testing import CliRunner

from hgloc import Config, HglocError, Localizer, Status
from hgloc.cli import cli
from hgloc.layout import METADATA_FILE
from hgloc_testing import Grant, HubEmulator, MotoServer, make_corpus

from .helpers import FAST_RETRY, Figures, store_files

pytestmark = pytest.mark.anyio

TOKEN = "hf_reliabilityT0kenNeverShownAnywhere42"
ACCESS_KEY = "AKIARELIABILITY00042"
SECRET_KEY = "reliability/S3cret+Key/neverShown0123456789"
WRONG_TOKEN = "hf_wrongTokenAlsoASecret9876543210"  # a token the Hub does not know
SECRETS = (TOKEN, ACCESS_KEY, SECRET_KEY, WRONG_TOKEN)
GATED, PRIVATE, LFS = "hgloc-test/gated", "hgloc-test/private", "hgloc-test/lfs"


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator(make_corpus(30), tokens={TOKEN: Grant(repos={GATED, PRIVATE})})
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.create_bucket(f"secrets-{uuid.uuid4().hex[:10]}")


@contextlib.contextmanager
def every_log_record() -> Iterator[list[str]]:
    """Every record of every logger, formatted with its traceback, at DEBUG."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def config_for(hub: HubEmulator, moto: MotoServer, bucket: str, root: Path) -> Config:
    return Config(
        models_store_path=root,
        hf_endpoint=hub.url,
        offline=False,
        hf_token=TOKEN,
        s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        s3_data_prefix="team",
    )


def assert_clean(what: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{what} shows a secret"
    # Nor a recognisable piece of one (a key cut by a line wrap, a token prefix).
    for secret in SECRETS:
        assert secret[4:20] not in text, f"{what} shows part of a secret"


def bucket_dump(moto: MotoServer, bucket: str) -> tuple[int, str]:
    client = moto.client()
    count, parts = 0, []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            count += 1
            got = client.get_object(Bucket=bucket, Key=item["Key"])
            parts += [
                item["Key"],
                json.dumps(got["Metadata"]),
                got["Body"].read().decode("latin-1"),
            ]
    return count, "\n".join(parts)


@attrs.frozen
class Trail:
    """Everything one run that used every secret left behind."""

    logs: list[str]
    errors: list[str]
    reports: list[dict[str, Any]]
    reprs: dict[str, str]
    local: dict[str, bytes]
    bucket_objects: int
    bucket: str


@pytest.fixture(scope="module")
def trail(hub: HubEmulator, moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Trail:
    """Public, private and gated models, LFS bytes through the CDN, all shared; then failures."""
    bucket = moto.create_bucket(f"secrets-{uuid.uuid4().hex[:10]}")
    root = tmp_path_factory.mktemp("secrets") / "store"
    config = config_for(hub, moto, bucket, root)
    ordinary = [r for r in hub.repos if not r.startswith("hgloc")][:4]
    errors: list[str] = []
    reports: list[dict[str, Any]] = []
    reprs: dict[str, str] = {}

    async def run() -> None:
        async with Localizer(config, retry=FAST_RETRY) as loc:
            report = await loc.prefetch([*ordinary, PRIVATE, GATED, "nobody/missing"])
            reports.append(report.as_dict())
            assert [r.model_id for r in report.failed] == ["nobody/missing"]
            for model_id in (LFS, GATED):
                full = await loc.download(model_id, metadata_only=False, make_public=True)
                assert full.status is Status.FETCHED
            reports.append((await loc.sync_all_to_bucket()).as_dict())
            reports.append((await loc.verify(bucket=True)).as_dict())
            reports.append({"bucket": [e.as_dict() for e in await loc.list_bucket_models()]})
            reports.append({"local": [m.as_dict() for m in await loc.list_models()]})
            tier = await loc.bucket()
            assert tier is not None
            for thing in (config, loc, loc.source, tier.backend, loc.backend):
                reprs[type(thing).__name__] = f"{thing!r} {thing!s}"
        # Errors about the very things the secrets open: repos a wrong token cannot see,
        # and a bucket that does not exist for these keys.
        wrong_token = Config(models_store_path=root, hf_endpoint=hub.url, hf_token=WRONG_TOKEN)
        async with Localizer(wrong_token, retry=FAST_RETRY) as loc:
            for model_id in (GATED, PRIVATE, "nobody/missing"):
                try:
                    await loc.download(model_id, metadata_only=False)
                except HglocError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
            reports.append((await loc.prefetch([GATED, PRIVATE])).as_dict())
        no_bucket = Config(**{**_fields(config), "s3_bucket_name": "no-such-bucket"})
        async with Localizer(no_bucket, retry=FAST_RETRY) as loc:
            try:
                await loc.list_bucket_models()
            except HglocError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            # A bucket that cannot be used is skipped (issue 15, case 9): the model comes
            # from the Hub, and the warning saying why is checked like the errors.
            result = await loc.download(ordinary[0])
            errors.extend(f"BucketSkipped: {w}" for w in result.warnings)

    with every_log_record() as logs:
        anyio.run(run)
    assert [e.partition(":")[0] for e in errors] == [
        "GatedRepoError", "RepositoryNotFoundError", "RepositoryNotFoundError",
        "BackendUnavailableError", "BucketSkipped",
    ]  # fmt: skip
    objects, dump = bucket_dump(moto, bucket)
    return Trail(logs, errors, reports, reprs, store_files(root), objects, dump)


def test_logs_at_debug_show_no_secret(trail: Trail, figures: Figures) -> None:
    text = "\n".join(trail.logs)
    # DEBUG really was on, for the HTTP client and botocore (which logs request headers).
    assert "httpx2" in text and "botocore.endpoint" in text and "Authorization" in text
    assert_clean("the logs", text)
    figures.add("secrets", "log records scanned", len(trail.logs))


def test_error_messages_show_no_secret(trail: Trail, figures: Figures) -> None:
    assert_clean("error messages", "\n".join(trail.errors))
    figures.add("secrets", "error messages scanned", len(trail.errors))


def test_reports_show_no_secret(trail: Trail) -> None:
    assert_clean("reports", json.dumps(trail.reports))


def test_reprs_hide_the_secrets(trail: Trail) -> None:
    assert set(trail.reprs) == {
        "Config",
        "Localizer",
        "HuggingFaceSource",
        "S3Backend",
        "LocalBackend",
    }
    for name, shown in trail.reprs.items():
        assert_clean(f"repr of {name}", shown)
    assert "'***'" in trail.reprs["Config"]  # named as set, not shown


def test_the_local_store_holds_no_secret(trail: Trail, figures: Figures) -> None:
    assert any(key.endswith(METADATA_FILE) for key in trail.local)
    text = "\n".join(k + v.decode("latin-1") for k, v in trail.local.items())
    assert_clean("the local store", text)
    figures.add("secrets", "local files scanned", len(trail.local))


def test_the_bucket_holds_no_secret(trail: Trail, figures: Figures) -> None:
    assert trail.bucket_objects > 20
    assert_clean("the bucket (keys, bodies, user metadata)", trail.bucket)
    figures.add("secrets", "bucket objects scanned", trail.bucket_objects)


async def test_the_token_goes_to_the_hub_host_only(
    hub: HubEmulator, tmp_path: Path, figures: Figures
) -> None:
    hub.reset_requests()
    config = Config(models_store_path=tmp_path / "store", hf_endpoint=hub.url, hf_token=TOKEN)
    async with Localizer(config, retry=FAST_RETRY) as loc:
        for model_id in (LFS, GATED):
            assert (await loc.download(model_id, metadata_only=False)).ok
    hub_host = str(hub.url).removeprefix("http://")
    cdn = [r for r in hub.requests if r.is_cdn]
    on_hub = [r for r in hub.requests if not r.is_cdn]
    assert cdn and all(r.host == f"localhost:{hub_host.rpartition(':')[2]}" for r in cdn)
    assert [r.path for r in cdn if r.has_auth] == []  # the CDN never sees it
    assert on_hub and all(r.host == hub_host for r in on_hub)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in on_hub)  # the Hub always does
    figures.add("secrets", "CDN requests", len(cdn))
    figures.add("secrets", "CDN requests carrying the token", 0)


def test_the_command_line_shows_no_secret_even_with_debug(
    hub: HubEmulator, moto: MotoServer, bucket: str, tmp_path: Path, figures: Figures
) -> None:
    env = {
        "HF_ENDPOINT": str(hub.url),
        "HF_TOKEN": TOKEN,
        "HGLOC_S3_BUCKET_NAME": bucket,
        "HGLOC_S3_ENDPOINT_URL": moto.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "HGLOC_AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "HGLOC_S3_DATA_PREFIX": "team",
        "TTY_COMPATIBLE": "0",
    }
    store = str(tmp_path / "store")
    runs = [
        ["prefetch", "--json", PRIVATE, GATED, "nobody/missing"],
        ["download-model", LFS],
        ["list-local-models", "--json"],
        ["list-s3-models", "--json"],
        ["sync-all-local-models-to-s3", "--json"],
        ["verify", "--s3", "--json"],
        ["show-model-config", PRIVATE, "--json"],
    ]
    shown = []
    for args in runs:
        result = CliRunner().invoke(cli, ["--store", store, "--debug", *args], env=env)
        assert result.exit_code in (0, 1), (args, result.output)
        shown.append(result.stdout + result.stderr)
    bad = {**env, "HGLOC_S3_BUCKET_NAME": "no-such-bucket", "HF_TOKEN": WRONG_TOKEN}
    for args in (["download-model", "nobody/missing"], ["list-s3-models"]):
        result = CliRunner().invoke(cli, ["--store", store, "--debug", *args], env=bad)
        assert result.exit_code == 1, result.output
        shown.append(result.stdout + result.stderr)
    text = "\n".join(shown)
    assert "botocore" in text  # --debug logs everything, the S3 client included
    assert_clean("the command line", text)
    assert "Traceback" in text  # --debug shows tracebacks: they are clean too
    figures.add("secrets", "CLI output bytes scanned", len(text))


def _fields(config: Config) -> dict[str, Any]:
    return attrs.asdict(config, recurse=False)
