"""The Hub protocol as ``hgloc serve`` answers it, over HTTP, on a local, memory and S3 store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx2
import pytest

from hgloc_testing import HubEmulator, git_blob_sha1

from .conftest import (
    CARD_V1,
    CARD_V2,
    CARDS,
    CONFIG_V1,
    CONFIG_V2,
    LEGACY,
    LEGACY_CONFIG,
    TINY,
    Store,
)


@pytest.fixture(scope="module")
def client(served: tuple[Store, str]) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served[1], timeout=30) as c:
        yield c


def tiny_file(upstream: HubEmulator, path: str) -> bytes:
    repo = upstream.repos[TINY]
    return repo.commits[repo.head()][path]


def commit_of(upstream: HubEmulator, repo_id: str, ref: str = "main") -> str:
    repo = upstream.repos[repo_id]
    index = repo.tags[ref] if ref in repo.tags else repo.head(ref)
    return repo.commit_sha(index)


# -- /resolve/ -----------------------------------------------------------------------------


def test_regular_file_has_git_sha1_etag_and_commit(
    client: httpx2.Client, upstream: HubEmulator
) -> None:
    data = tiny_file(upstream, "config.json")
    r = client.get(f"/{TINY}/resolve/main/config.json")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["etag"] == f'"{git_blob_sha1(data)}"'
    assert r.headers["x-repo-commit"] == commit_of(upstream, TINY)
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["accept-ranges"] == "bytes"
    assert "x-linked-etag" not in r.headers


def test_lfs_file_has_sha256_etag_and_linked_headers(
    client: httpx2.Client, upstream: HubEmulator
) -> None:
    data = tiny_file(upstream, "model.safetensors")
    digest = hashlib.sha256(data).hexdigest()
    r = client.get(f"/{TINY}/resolve/main/model.safetensors")
    assert r.status_code == 200 and r.content == data
    assert r.headers["etag"] == r.headers["x-linked-etag"] == f'"{digest}"'
    assert r.headers["x-linked-size"] == r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"] == "application/octet-stream"


def test_head_answers_the_headers_of_get(client: httpx2.Client) -> None:
    url = f"/{TINY}/resolve/main/model.safetensors"
    get, head = client.get(url), client.head(url)
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "x-repo-commit", "content-length", "x-linked-size", "content-type"):
        assert head.headers[name] == get.headers[name]


def test_card_is_served_under_its_repo_name(client: httpx2.Client) -> None:
    assert client.get(f"/{CARDS}/resolve/main/README.md").content == CARD_V2
    missing = client.get(f"/{CARDS}/resolve/main/model_card.md")  # the store's name is private
    assert missing.headers["x-error-code"] == "EntryNotFound"


def test_nested_paths_and_legacy_ids(client: httpx2.Client) -> None:
    assert client.get(f"/{TINY}/resolve/main/extras/deep/data.json").content == b'{"deep": true}\n'
    assert client.get(f"/{LEGACY}/resolve/main/config.json").content == LEGACY_CONFIG


@pytest.mark.parametrize(
    ("header", "status", "span"),
    [
        ("bytes=0-9", 206, (0, 9)),
        ("bytes=100-", 206, (100, None)),
        ("bytes=-7", 206, (-7, None)),
        ("bytes=5-99999999", 206, (5, None)),  # clamped to the end
        ("bytes=0-0", 206, (0, 0)),
        ("bytes=99999999-", 416, None),
        ("bytes=-0", 416, None),
        ("bytes=abc", 200, (0, None)),  # not a range: ignored
        ("bytes=0-1,4-5", 200, (0, None)),  # several ranges: the whole file
        ("items=0-5", 200, (0, None)),
    ],
)
def test_ranges(
    client: httpx2.Client,
    upstream: HubEmulator,
    header: str,
    status: int,
    span: tuple[int, int | None] | None,
) -> None:
    data = tiny_file(upstream, "model.safetensors")
    r = client.get(f"/{TINY}/resolve/main/model.safetensors", headers={"Range": header})
    assert r.status_code == status
    assert r.headers["x-repo-commit"] == commit_of(upstream, TINY)
    if span is None:
        assert r.headers["content-range"] == f"bytes */{len(data)}"
        assert r.content == b""
        return
    start, end = span
    expected = data[start:] if end is None else data[start : end + 1]
    assert r.content == expected
    assert r.headers["content-length"] == str(len(expected))
    if status == 206:
        first = start % len(data)
        assert r.headers["content-range"] == (
            f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
        )


def test_branch_tag_and_commit_requests(client: httpx2.Client, upstream: HubEmulator) -> None:
    head, v1 = commit_of(upstream, CARDS), commit_of(upstream, CARDS, "v1.0")
    assert head != v1
    for revision, config, commit in (
        ("main", CONFIG_V2, head),
        (head, CONFIG_V2, head),
        ("v1.0", CONFIG_V1, v1),
        (v1, CONFIG_V1, v1),
    ):
        r = client.get(f"/{CARDS}/resolve/{revision}/config.json")
        assert r.status_code == 200, revision
        assert (r.content, r.headers["x-repo-commit"]) == (config, commit)
        info = client.get(f"/api/models/{CARDS}/revision/{revision}").json()
        assert info["sha"] == commit
    assert client.get(f"/{CARDS}/resolve/v1.0/README.md").content == CARD_V1
    assert client.get(f"/api/models/{CARDS}").json()["sha"] == head


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/nobody/nothing/resolve/main/config.json", "RepoNotFound"),
        ("/api/models/nobody/nothing", "RepoNotFound"),
        ("/api/models/nobody/nothing/tree/main", "RepoNotFound"),
        ("/bad..id/x/resolve/main/config.json", "RepoNotFound"),
        (f"/{CARDS}/resolve/v9/config.json", "RevisionNotFound"),
        (f"/{CARDS}/resolve/{'0' * 40}/config.json", "RevisionNotFound"),
        (f"/{CARDS}/resolve/refs%2Fpr%2F1/config.json", "RevisionNotFound"),
        (f"/api/models/{CARDS}/revision/v9", "RevisionNotFound"),
        (f"/api/models/{CARDS}/tree/v9", "RevisionNotFound"),
        (f"/{CARDS}/resolve/main/missing.json", "EntryNotFound"),
        (f"/{CARDS}/resolve/main/weights.bin", "EntryNotFound"),  # upstream has it; we don't
        (f"/api/models/{TINY}/tree/main/no-such-folder", "EntryNotFound"),
    ],
)
def test_error_codes(client: httpx2.Client, path: str, code: str) -> None:
    for method in ("GET", "HEAD"):
        r = client.request(method, path)
        assert r.status_code == 404, (method, path)
        assert r.headers["x-error-code"] == code
    if code == "EntryNotFound":  # the Hub names the commit it looked at
        assert len(r.headers["x-repo-commit"]) == 40


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/", f"/{TINY}/resolve/main/config.json", f"/api/models/{TINY}"])
def test_read_only(client: httpx2.Client, method: str, path: str) -> None:
    r = client.request(method, path, content=b"x")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


# -- /api/models -------------------------------------------------------------------------


def test_model_info_of_a_full_model(client: httpx2.Client, upstream: HubEmulator) -> None:
    info = client.get(f"/api/models/{TINY}").json()
    repo = upstream.repos[TINY]
    assert info["id"] == info["modelId"] == TINY
    assert info["sha"] == repo.commit_sha(repo.head())
    assert sorted(s["rfilename"] for s in info["siblings"]) == sorted(repo.commits[0])
    assert info["private"] is False and info["gated"] is False
    assert info["cardData"]["license"] == "cc-by-4.0"
    assert info["library_name"] == "transformers"
    assert info["config"]["model_type"] == "bert"
    blobs = client.get(f"/api/models/{TINY}/revision/main", params={"blobs": "true"}).json()
    upstream_blobs = httpx2.get(
        f"{upstream.url}/api/models/{TINY}", params={"blobs": "true"}
    ).json()
    assert sorted(blobs["siblings"], key=lambda s: s["rfilename"]) == sorted(
        upstream_blobs["siblings"], key=lambda s: s["rfilename"]
    )


def test_model_info_of_a_metadata_only_model_lists_what_is_held(client: httpx2.Client) -> None:
    info = client.get(f"/api/models/{CARDS}").json()
    assert [s["rfilename"] for s in info["siblings"]] == ["README.md", "config.json"]
    assert info["cardData"]["tags"] == ["hgloc", "text-classification"]
    assert info["pipeline_tag"] == "fill-mask"
    assert "license:mit" in info["tags"]


def test_tree_matches_the_upstream_hub(client: httpx2.Client, upstream: HubEmulator) -> None:
    commit = commit_of(upstream, TINY)
    for query in ("?recursive=true", ""):
        ours = client.get(f"/api/models/{TINY}/tree/{commit}{query}").json()
        theirs = httpx2.get(f"{upstream.url}/api/models/{TINY}/tree/{commit}{query}").json()
        strip = [{k: v for k, v in e.items() if e["type"] == "file" or k != "oid"} for e in ours]
        assert strip == [
            {k: v for k, v in e.items() if e["type"] == "file" or k != "oid"} for e in theirs
        ]
    root = client.get(f"/api/models/{TINY}/tree/main").json()
    assert root[0] == {**root[0], "type": "directory", "path": "extras"}
    sub = client.get(f"/api/models/{TINY}/tree/main/extras").json()
    assert [e["path"] for e in sub] == ["extras/deep", "extras/notes.txt"]
    quoted = client.get(f"/api/models/{TINY}/tree/main/{quote('extras/deep', safe='')}").json()
    assert [e["path"] for e in quoted] == ["extras/deep/data.json"]


def test_json_bodies_parse(client: httpx2.Client) -> None:
    r = client.get(f"/api/models/{CARDS}/tree/v1.0", params={"recursive": "true"})
    assert r.headers["content-type"].startswith("application/json")
    assert [e["path"] for e in json.loads(r.content)] == ["README.md", "config.json"]
    assert client.get(f"/api/models/{CARDS}/tree/v1.0/README.md").status_code == 404
    assert CARD_V1  # the tag's card is what v1.0 serves (checked above by resolve)


def test_what_a_request_names_never_breaks_a_header(client: httpx2.Client) -> None:
    r = client.get("/a%0D%0AX-Evil:%201/b/resolve/main/x")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    assert "x-evil" not in r.headers
    r = client.get(f"/{CARDS}/resolve/v%C3%A9%0A/config.json")  # a revision with é and LF
    assert r.headers["x-error-code"] == "RevisionNotFound"
    assert r.headers["x-error-message"].isascii()
