"""The pure parts of full-model downloads: part plans, range headers, tree pages, file selection.

Plus the staging files and the byte-progress throttle, which need no network.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hgloc.backends import MemoryBackend
from hgloc.errors import IntegrityError, InvalidKeyError, LayoutCollisionError
from hgloc.layout import FileRecord
from hgloc.sources import TreeEntry, git_blob_sha1
from hgloc.sources._ranges import (
    ContentRange,
    Part,
    parse_content_range,
    plan_parts,
    range_header,
)
from hgloc.sources._tree import parse_link_next, parse_tree_page, tree_url
from hgloc.transfer._big_file import Progress, stored_matches, verify_bytes
from hgloc.transfer._full_model import file_record, select_files, store_name
from hgloc.transfer._staging import Journal, StagedFile, model_staging, remove_model_staging

SHA1 = "a" * 40
SHA256 = "b" * 64

# -- part plans ------------------------------------------------------------------------------


@given(
    size=st.integers(0, 10**12),
    part_size=st.integers(1, 10**10),
    split_above=st.integers(0, 10**10),
)
def test_parts_cover_the_file_exactly_once(size: int, part_size: int, split_above: int) -> None:
    if size > split_above and -(-size // part_size) > 100_000:
        return  # plans of millions of parts are not interesting and slow to build
    parts = plan_parts(size, part_size=part_size, split_above=split_above)
    assert parts[0].start == 0 and parts[-1].end == size
    assert [p.index for p in parts] == list(range(len(parts)))
    for a, b in itertools.pairwise(parts):
        assert a.end == b.start and a.length > 0
    if size <= split_above:
        assert len(parts) == 1
    else:
        assert all(p.length <= part_size for p in parts)
        assert len(parts) == -(-size // part_size)  # no more requests than needed
        assert max(p.length for p in parts) - min(p.length for p in parts) <= len(parts)


def test_part_plan_examples() -> None:
    assert plan_parts(0, part_size=4, split_above=0) == [Part(0, 0, 0)]
    assert plan_parts(16, part_size=4, split_above=8) == [
        Part(0, 0, 4), Part(1, 4, 8), Part(2, 8, 12), Part(3, 12, 16),
    ]  # fmt: skip
    # Equal parts rather than three full ones and a 1-byte tail.
    assert [p.length for p in plan_parts(13, part_size=4, split_above=8)] == [4, 4, 4, 1]
    assert [p.length for p in plan_parts(9, part_size=4, split_above=8)] == [3, 3, 3]
    with pytest.raises(ValueError):
        plan_parts(10, part_size=0, split_above=0)


def test_range_headers() -> None:
    assert range_header(0, None) is None
    assert range_header(0, 10) == "bytes=0-9"
    assert range_header(5, None) == "bytes=5-"
    for bad in ((5, 5), (-1, 3), (6, 5)):
        with pytest.raises(ValueError):
            range_header(*bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 0-9/100", ContentRange(0, 10, 100)),
        ("bytes 90-99/*", ContentRange(90, 100, None)),
        ("BYTES 5-5/6", ContentRange(5, 6, 6)),
        ("bytes 0-100/100", None),  # ends past the total
        ("bytes 9-0/100", None),
        ("bytes */100", None),  # a 416's answer
        ("items 0-9/100", None),
        ("", None),
        (None, None),
    ],
)
def test_content_range(value: str | None, expected: ContentRange | None) -> None:
    assert parse_content_range(value) == expected


# -- tree listings ---------------------------------------------------------------------------


def test_tree_url_quotes_the_revision() -> None:
    assert tree_url("http://h", "org/m", "refs/pr/1") == (
        "http://h/api/models/org/m/tree/refs%2Fpr%2F1?recursive=true"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('<https://h/api?cursor=x>; rel="next"', "https://h/api?cursor=x"),
        ("<https://h/a>; rel=next", "https://h/a"),
        ('<https://h/p>; rel="prev", <https://h/n>; rel="next"', "https://h/n"),
        ('<https://h/a>; title="x"; rel="last next"', "https://h/a"),
        ('<https://h/p>; rel="prev"', None),
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_link_next(value: str | None, expected: str | None) -> None:
    assert parse_link_next(value) == expected


def test_tree_page_keeps_files_and_lfs_hashes() -> None:
    page = [
        {"type": "directory", "oid": SHA1, "size": 0, "path": "sub"},
        {"type": "file", "oid": SHA1, "size": 12, "path": "sub/a.txt"},
        {
            "type": "file",
            "oid": SHA1,
            "size": 4096,
            "path": "model.safetensors",
            "lfs": {"oid": SHA256, "size": 4096, "pointerSize": 134},
        },
    ]
    assert parse_tree_page(page, what="t") == [
        TreeEntry("sub/a.txt", 12, SHA1),
        TreeEntry("model.safetensors", 4096, SHA1, SHA256),
    ]


@pytest.mark.parametrize(
    "page",
    [
        {"not": "a list"},
        ["a string"],
        [{"type": "symlink", "path": "x"}],
        [{"type": "file", "oid": SHA1, "size": 1}],
        [{"type": "file", "oid": SHA1, "size": -1, "path": "x"}],
        [{"type": "file", "oid": SHA1, "size": True, "path": "x"}],
        [{"type": "file", "oid": "zz", "size": 1, "path": "x"}],
        [{"type": "file", "oid": SHA1, "size": 1, "path": "x", "lfs": {"oid": "short"}}],
        [{"type": "file", "oid": SHA1, "size": 1, "path": "x", "lfs": "yes"}],
    ],
)
def test_malformed_tree_pages_are_refused(page: object) -> None:
    with pytest.raises(ValueError, match="file list"):
        parse_tree_page(page, what="the file list")


# -- which files, under which names ------------------------------------------------------------


def entries(*paths: str) -> list[TreeEntry]:
    return [TreeEntry(p, 1, SHA1) for p in paths]


def test_selection_applies_hub_globs_and_renames_the_card() -> None:
    tree = entries("README.md", "config.json", "a.bin", "onnx/model.onnx", "sub/x.json")
    assert list(select_files(tree)) == [
        "model_card.md", "config.json", "a.bin", "onnx/model.onnx", "sub/x.json",
    ]  # fmt: skip
    assert list(select_files(tree, "*.json")) == ["config.json", "sub/x.json"]  # * crosses /
    assert list(select_files(tree, ["*.json", "*.md"], "sub/*")) == [
        "model_card.md", "config.json",
    ]  # fmt: skip
    assert list(select_files(tree, ignore_patterns=["*.onnx", "*.bin"])) == [
        "model_card.md", "config.json", "sub/x.json",
    ]  # fmt: skip
    assert store_name("README.md") == "model_card.md"
    assert store_name("docs/README.md") == "docs/README.md"


@pytest.mark.parametrize(
    "path",
    [
        "../evil",
        "a/../../b",
        "/abs",
        "a//b",
        "a/",
        "./x",
        "back\\slash",
        "nul\x00",
        "C:/windows",
        "x" * 300,
        ".hg_localization_bucket_metadata.json",
        "deep/.hg_localization_bucket_metadata.json",
        ".hgloc-tmp-123",
    ],
)
def test_hostile_paths_are_refused_by_name(path: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        select_files(entries("config.json", path))
    assert repr(path) in str(info.value)


def test_hostile_paths_outside_the_selection_do_not_matter() -> None:
    assert list(select_files(entries("config.json", "../evil"), "config.json")) == ["config.json"]


def test_names_that_collide_are_refused() -> None:
    with pytest.raises(LayoutCollisionError, match=r"model_card\.md"):
        select_files(entries("README.md", "model_card.md"))
    with pytest.raises(LayoutCollisionError, match="both as a file and as a folder"):
        select_files(entries("a", "a/b"))
    with pytest.raises(LayoutCollisionError):
        select_files(entries("x.json", "x.json"))


def test_file_records_keep_the_hash_that_identifies_the_content() -> None:
    assert file_record(TreeEntry("a", 3, SHA1)) == FileRecord("a", 3, SHA1, None)
    # An LFS file's git oid hashes its pointer, not its bytes: only sha256 is kept.
    assert file_record(TreeEntry("m", 3, SHA1, SHA256)) == FileRecord("m", 3, None, SHA256)


# -- verification ----------------------------------------------------------------------------


def test_verify_bytes_checks_size_and_hash() -> None:
    data = b"hello\n"
    regular = TreeEntry("a.txt", len(data), git_blob_sha1(data))
    lfs = TreeEntry("m.bin", len(data), SHA1, hashlib.sha256(data).hexdigest())
    verify_bytes(data, regular)
    verify_bytes(data, lfs)
    with pytest.raises(IntegrityError, match=r"a\.txt: git sha1 mismatch"):
        verify_bytes(b"hellO\n", regular)
    with pytest.raises(IntegrityError, match=r"m\.bin: sha256 mismatch"):
        verify_bytes(b"hellO\n", lfs)
    with pytest.raises(IntegrityError, match="received 5 bytes"):
        verify_bytes(b"hello", regular)


@pytest.mark.anyio
async def test_a_stored_file_is_checked_against_the_hub_hashes_as_it_streams() -> None:
    data = b"x" * 1000
    backend = MemoryBackend()
    await backend.write("f", data)
    for entry in (
        TreeEntry("a", len(data), git_blob_sha1(data)),
        TreeEntry("b", len(data), SHA1, hashlib.sha256(data).hexdigest()),
    ):
        assert await stored_matches(backend, "f", entry)
    await backend.write("f", data + b"!")  # one byte more: neither size nor hash matches
    assert not await stored_matches(backend, "f", TreeEntry("a", len(data), git_blob_sha1(data)))
    await backend.write("f", b"y" + data[1:])  # same size, other bytes
    assert not await stored_matches(backend, "f", TreeEntry("a", len(data), git_blob_sha1(data)))
    assert not await stored_matches(backend, "missing", TreeEntry("a", 1, SHA1))


# -- staging ---------------------------------------------------------------------------------


def test_staged_file_resumes_from_its_counters(tmp_path: Path) -> None:
    parts = plan_parts(10, part_size=4, split_above=4)  # 4 + 4 + 2
    staged = StagedFile(tmp_path, "f", 10, parts)
    assert staged.open() == [0, 0, 0]
    staged.write(parts[0], 0, [b"ab"], 2)
    staged.write(parts[2], 8, [b"ij"], 2)
    staged.close()

    again = StagedFile(tmp_path, "f", 10, parts)
    assert again.open() == [2, 0, 2]
    again.write(parts[0], 2, [b"cd"], 4)
    again.write(parts[1], 4, [b"efgh"], 4)
    hasher = hashlib.sha256()
    assert again.read_and_hash(0, 10, hasher) == b"abcdefghij"
    assert hasher.hexdigest() == hashlib.sha256(b"abcdefghij").hexdigest()
    again.move_to(tmp_path / "out" / "file.bin")
    assert (tmp_path / "out" / "file.bin").read_bytes() == b"abcdefghij"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_file_starts_over_when_the_plan_changed(tmp_path: Path) -> None:
    staged = StagedFile(tmp_path, "f", 10, plan_parts(10, part_size=4, split_above=4))
    staged.open()
    staged.write(staged.parts[0], 0, [b"abcd"], 4)
    staged.close()
    other = StagedFile(tmp_path, "f", 10, plan_parts(10, part_size=5, split_above=4))
    assert other.open() == [0, 0]
    other.discard()
    assert list(tmp_path.iterdir()) == []


def test_staged_file_without_its_data_starts_over(tmp_path: Path) -> None:
    parts = plan_parts(8, part_size=8, split_above=8)
    staged = StagedFile(tmp_path, "f", 8, parts)
    staged.open()
    staged.write(parts[0], 0, [b"abcd"], 4)
    staged.close()
    staged.data_path.unlink()
    assert StagedFile(tmp_path, "f", 8, parts).open() == [0]


def test_journal_round_trip_ignores_damage_and_other_models(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", "org/model")
    assert journal.load() == {}
    record = FileRecord("README.md", 5, SHA1)
    journal.add({"model_card.md": record})
    Journal(tmp_path / "j", "org/other").add({"x": FileRecord("x", 1, SHA1)})
    with open(journal.path, "a") as handle:
        handle.write('{"half a line\n')
    assert journal.load() == {"model_card.md": record}


def test_staging_removal_prunes_empty_folders_only(tmp_path: Path) -> None:
    root = tmp_path / ".hgloc-partial"
    a = model_staging(root, "by_bucket/b/org_a/main", "c" * 40)
    b = model_staging(root, "by_bucket/b/org_b/main", "c" * 40)
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    (a / "x.partial").write_bytes(b"x")
    remove_model_staging(root, "by_bucket/b/org_a/main")
    assert not (root / "by_bucket/b/org_a").exists() and b.is_dir()
    remove_model_staging(root, "by_bucket/b/org_b/main")
    assert not root.exists() and tmp_path.is_dir()


# -- byte progress ---------------------------------------------------------------------------


def test_progress_is_throttled_but_always_reports_the_end() -> None:
    calls: list[tuple[str, int, int]] = []
    progress = Progress(lambda *a: calls.append(a), total=300, interval=3600)
    progress.start()
    for i in (1, 2, 3):
        progress.add(50, "big.bin", 50 * i, 150)
    # Between the first call for a path and its end, every call came too soon.
    assert calls == [("", 0, 300), ("big.bin", 50, 150), ("big.bin", 150, 150)]
    progress.add(150)
    assert calls[-1] == ("", 300, 300)
    quiet = Progress(None, total=10, interval=0)
    quiet.start()
    quiet.add(10)
    assert quiet.done == 10
