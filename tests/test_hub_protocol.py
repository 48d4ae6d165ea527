"""The Hub protocol rules and the pacer, without a network."""

from __future__ import annotations

import hashlib
import random

import pytest
from huggingface_hub import hf_hub_url

from hgloc.sources import Backoff, RateLimit, RatePacer, git_blob_sha1
from hgloc.sources._hub_protocol import (
    HubErrorKind,
    check_digest,
    classify_error,
    parse_etag,
    parse_ratelimit,
    parse_retry_after,
    resolve_url,
    same_origin,
)


def test_git_blob_sha1_matches_git() -> None:
    # `printf 'hello\n' | git hash-object --stdin`
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_check_digest_sha1_sha256_and_foreign_etags() -> None:
    data = b'{"model_type": "bert"}'
    assert check_digest(git_blob_sha1(data), data) is None
    assert check_digest(hashlib.sha256(data).hexdigest(), data) is None
    assert check_digest(git_blob_sha1(data), data + b" ") == (
        "git sha1",
        git_blob_sha1(data + b" "),
    )
    bad = check_digest(hashlib.sha256(b"x").hexdigest(), data)
    assert bad is not None and bad[0] == "sha256"
    assert check_digest("d41d8cd98f00b204e9800998ecf8427e", data) is None  # an md5 CDN etag
    assert check_digest(None, data) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [('"abc"', "abc"), ('W/"ABC"', "abc"), ("abc", "abc"), (None, None), ('""', None)],
)
def test_parse_etag(header: str | None, expected: str | None) -> None:
    assert parse_etag(header) == expected


def test_parse_ratelimit() -> None:
    assert parse_ratelimit('"resolvers";r=0;t=120') == RateLimit(0, 120.0)
    assert parse_ratelimit('"resolvers";r=4999;t=299') == RateLimit(4999, 299.0)
    assert parse_ratelimit("garbage") is None
    assert parse_ratelimit("") is None
    assert parse_ratelimit(None) is None


def test_parse_retry_after_caps_and_ignores_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("100000", cap=60) == 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-5") == 0.0


def test_resolve_url_quotes_revision_and_path() -> None:
    assert (
        resolve_url("http://h", "org/m", "refs/pr/1", "sub dir/f.json")
        == "http://h/org/m/resolve/refs%2Fpr%2F1/sub%20dir/f.json"
    )


def test_resolve_url_is_huggingface_hubs_on_our_endpoint() -> None:
    assert resolve_url("http://127.0.0.1:5", "gpt2", "main", "config.json") == hf_hub_url(
        "gpt2", "config.json", revision="main", endpoint="http://127.0.0.1:5"
    )


def test_same_origin() -> None:
    assert same_origin("http://127.0.0.1:5/a", "http://127.0.0.1:5")
    assert not same_origin("http://localhost:5/a", "http://127.0.0.1:5")
    assert not same_origin("https://cdn.hf.co/x", "https://huggingface.co")
    assert not same_origin("http://127.0.0.1:6/a", "http://127.0.0.1:5")


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "RepoNotFound", HubErrorKind.REPO_NOT_FOUND),
        (404, "RepoNotFound", HubErrorKind.REPO_NOT_FOUND),
        (401, "", HubErrorKind.REPO_NOT_FOUND),
        (403, "GatedRepo", HubErrorKind.GATED),
        (401, "GatedRepo", HubErrorKind.GATED),
        (404, "RevisionNotFound", HubErrorKind.REVISION_NOT_FOUND),
        (404, "EntryNotFound", HubErrorKind.ENTRY_NOT_FOUND),
        (429, "", HubErrorKind.RETRY),
        (503, "", HubErrorKind.RETRY),
        (408, "", HubErrorKind.RETRY),
        (400, "", HubErrorKind.OTHER),
    ],
)
def test_classify_error(status: int, code: str, kind: HubErrorKind) -> None:
    headers = {"x-error-code": code} if code else {}
    assert classify_error(status, headers) == kind


def test_backoff_is_capped_and_jittered() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    rng = random.Random(1)
    delays = [backoff.delay(n, rng) for n in range(10)]
    assert all(0.25 <= d <= 4.0 for d in delays)
    assert delays[0] <= 0.5
    assert all(d >= 2.0 for d in delays[4:])  # ceiling reached: between cap/2 and cap


def test_pacer_unhindered_while_budget_is_plenty() -> None:
    pacer = RatePacer(low_water=10)
    pacer.observe(RateLimit(1000, 300), now=0.0)
    assert [pacer.reserve(0.0) for _ in range(5)] == [0.0] * 5


def test_pacer_spreads_a_low_budget_over_the_window() -> None:
    pacer = RatePacer(low_water=10)
    pacer.observe(RateLimit(10, 100), now=0.0)
    assert pacer.interval == pytest.approx(10.0)
    waits = [pacer.reserve(0.0) for _ in range(3)]
    assert waits == pytest.approx([0.0, 10.0, 20.0])


def test_pacer_pauses_everyone_when_budget_is_gone_or_429() -> None:
    pacer = RatePacer(low_water=10)
    pacer.observe(RateLimit(0, 30), now=100.0)
    assert pacer.reserve(100.0) == pytest.approx(30.0)
    assert pacer.reserve(110.0) == pytest.approx(20.0)
    pacer2 = RatePacer()
    pacer2.pause(5.0, now=0.0)
    assert pacer2.reserve(1.0) == pytest.approx(4.0)
    assert pacer2.reserve(6.0) == 0.0


def test_pacer_returns_to_full_speed_when_window_resets() -> None:
    pacer = RatePacer(low_water=10)
    pacer.observe(RateLimit(5, 50), now=0.0)
    assert pacer.interval > 0
    pacer.observe(RateLimit(5000, 300), now=60.0)
    assert pacer.interval == 0.0
