"""The store contract: what every backend (folder, S3 servers) must do the same way."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from whisperq.store import InvalidKey, ObjectNotFound, PreconditionFailed, Store


def test_put_then_get_returns_bytes_and_etag(store: Store):
    etag = store.put_bytes("a/b.txt", b"hello")
    data, got_etag = store.get_bytes("a/b.txt")
    assert data == b"hello"
    assert got_etag == etag
    assert store.head("a/b.txt").size == 5


def test_missing_object_raises_not_found(store: Store):
    with pytest.raises(ObjectNotFound):
        store.get_bytes("nope/x.json")
    with pytest.raises(ObjectNotFound):
        store.head("nope/x.json")
    assert not store.exists("nope/x.json")


def test_overwrite_changes_etag(store: Store):
    first = store.put_bytes("k.json", b"1")
    second = store.put_bytes("k.json", b"2")
    assert first != second
    assert store.get_bytes("k.json") == (b"2", second)


def test_if_none_match_creates_only_once(store: Store):
    store.put_bytes("jobs/x.json", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("jobs/x.json", b"second", if_none_match=True)
    assert store.get_bytes("jobs/x.json")[0] == b"first"


def test_if_match_swaps_only_the_version_read(store: Store):
    etag = store.put_bytes("jobs/y.json", b"v1")
    new_etag = store.put_bytes("jobs/y.json", b"v2", if_match=etag)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("jobs/y.json", b"v3", if_match=etag)  # stale ETag
    assert store.get_bytes("jobs/y.json") == (b"v2", new_etag)


def test_if_match_on_missing_object_fails(store: Store):
    with pytest.raises((PreconditionFailed, ObjectNotFound)):
        store.put_bytes("jobs/missing.json", b"v", if_match='"0123"')
    assert not store.exists("jobs/missing.json")


def test_compare_and_swap_has_one_winner_among_threads(store: Store):
    etag = store.put_bytes("jobs/race.json", b"0")
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def contender(n: int) -> None:
        barrier.wait()
        try:
            store.put_bytes("jobs/race.json", str(n).encode(), if_match=etag)
            winners.append(n)
        except PreconditionFailed:
            pass

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert store.get_bytes("jobs/race.json")[0] == str(winners[0]).encode()


def test_list_is_sorted_filtered_and_paged(store: Store):
    keys = [f"index/queued/{i:05d}-job.json" for i in range(1105)] + ["index/done/1.json", "indexx/z"]
    for key in keys:
        store.put_bytes(key, b"")
    listed = list(store.list_keys("index/queued/"))
    assert listed == sorted(k for k in keys if k.startswith("index/queued/"))
    after = list(store.list_keys("index/queued/", start_after="index/queued/01100-job.json"))
    assert after == [f"index/queued/{i:05d}-job.json" for i in range(1101, 1105)]
    assert list(store.list_keys("index/")) == sorted(k for k in keys if k.startswith("index/"))


def test_list_orders_by_bytes_across_folders(store: Store):
    for key in ("a/b", "a-b", "a.b", "a/a/c", "ab"):
        store.put_bytes(key, b"x")
    assert list(store.list_keys("a")) == sorted(["a/b", "a-b", "a.b", "a/a/c", "ab"])


def test_delete_is_idempotent(store: Store):
    store.put_bytes("logs/1.json", b"{}")
    store.delete("logs/1.json")
    store.delete("logs/1.json")
    assert not store.exists("logs/1.json")
    assert list(store.list_keys("logs/")) == []


def test_conditional_delete_removes_only_the_version_read(store: Store):
    read = store.put_bytes("runners/r.json", b'{"updated_at": 1}')
    rewritten = store.put_bytes("runners/r.json", b'{"updated_at": 2}')
    with pytest.raises(PreconditionFailed):
        store.delete("runners/r.json", if_match=read)
    assert store.get_bytes("runners/r.json") == (b'{"updated_at": 2}', rewritten)
    store.delete("runners/r.json", if_match=rewritten)
    assert not store.exists("runners/r.json")
    store.delete("runners/r.json", if_match=rewritten)  # already gone: not an error


def test_put_file_and_download_stream_large_objects(store: Store, tmp_path: Path):
    payload = bytes(range(256)) * 40_000  # 10 MB
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    store.put_file("audio/j/big.bin", src)
    store.put_file("audio/j/fileobj.bin", io.BytesIO(b"from a file object"))
    dest = tmp_path / "dest.bin"
    info = store.download("audio/j/big.bin", dest)
    assert dest.read_bytes() == payload
    assert info.size == len(payload)
    assert store.get_bytes("audio/j/fileobj.bin")[0] == b"from a file object"


def test_json_helpers_round_trip_unicode(store: Store):
    store.put_json("jobs/ru.json", {"text": "Введите пароль"})
    value, _ = store.get_json("jobs/ru.json")
    assert value == {"text": "Введите пароль"}


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "../x", "a\\b"])
def test_bad_keys_are_refused(store: Store, key: str):
    with pytest.raises(InvalidKey):
        store.put_bytes(key, b"x")
