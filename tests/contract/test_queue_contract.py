"""The queue contract: SQS semantics every backend (SQLite, SQS servers) must keep."""

from __future__ import annotations

import threading
import time

import pytest

from whisperq.queue import ReceiptInvalid
from whisperq.queue.sqs import SqsQueue
from whisperq.queue.visibility import VisibilityKeeper


def test_send_receive_delete(make_queue):
    queue = make_queue()
    queue.send({"job_id": "a"})
    [message] = queue.receive(wait_s=1)
    assert message.body == {"job_id": "a"}
    assert message.receive_count == 1
    queue.delete(message.receipt)
    assert queue.receive(wait_s=0) == []


def test_received_message_is_hidden_until_visibility_timeout(make_queue):
    queue = make_queue(visibility_timeout_s=2)
    queue.send({"job_id": "b"})
    [first] = queue.receive(wait_s=1)
    assert queue.receive(wait_s=0) == []
    again = queue.receive(wait_s=6)
    assert [m.body for m in again] == [{"job_id": "b"}]
    assert again[0].receive_count == 2
    assert again[0].receipt != first.receipt


def test_change_visibility_extends_and_releases(make_queue):
    queue = make_queue(visibility_timeout_s=2)
    queue.send({"job_id": "c"})
    [message] = queue.receive(wait_s=1)
    queue.change_visibility(message.receipt, 30)
    time.sleep(2.5)
    assert queue.receive(wait_s=0) == []
    queue.change_visibility(message.receipt, 0)
    assert [m.body for m in queue.receive(wait_s=2)] == [{"job_id": "c"}]


def test_stale_receipt_cannot_extend(make_queue):
    queue = make_queue(visibility_timeout_s=2)
    queue.send({"job_id": "d"})
    [old] = queue.receive(wait_s=1)
    [new] = queue.receive(wait_s=6)
    queue.delete(new.receipt)
    with pytest.raises(ReceiptInvalid):
        queue.change_visibility(old.receipt, 30)


def test_dead_letter_after_max_receives(make_queue):
    queue = make_queue(visibility_timeout_s=1, max_receives=2)
    queue.send({"job_id": "poison"})
    counts = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for message in queue.receive(wait_s=1):
            counts.append(message.receive_count)
        if len(counts) >= 2 and not queue.receive(wait_s=2.5):
            break
    assert counts == [1, 2]
    dead = queue.dead_letters()
    assert [m.body for m in dead] == [{"job_id": "poison"}]
    assert queue.counts().dead == 1


def test_long_poll_returns_when_a_message_arrives(make_queue):
    queue = make_queue()
    threading.Timer(0.5, lambda: queue.send({"job_id": "late"})).start()
    started = time.monotonic()
    messages = queue.receive(wait_s=5)
    assert [m.body for m in messages] == [{"job_id": "late"}]
    assert time.monotonic() - started < 4.5


def test_long_poll_times_out_empty(make_queue):
    queue = make_queue()
    started = time.monotonic()
    assert queue.receive(wait_s=1) == []
    assert time.monotonic() - started >= 0.9


def test_each_message_goes_to_one_receiver(make_queue):
    queue = make_queue()
    for n in range(20):
        queue.send({"n": n})
    got: list[int] = []
    lock = threading.Lock()

    def consumer() -> None:
        while True:
            messages = queue.receive(max_messages=3, wait_s=0.5)
            if not messages:
                return
            with lock:
                got.extend(m.body["n"] for m in messages)
            for m in messages:
                queue.delete(m.receipt)

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(20))


def test_counts(make_queue):
    queue = make_queue()
    queue.send({"n": 1})
    queue.send({"n": 2})
    queue.receive(wait_s=1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # counts are approximate on SQS
        counts = queue.counts()
        if (counts.visible, counts.in_flight) == (1, 1):
            break
        time.sleep(0.2)
    assert (counts.visible, counts.in_flight, counts.dead) == (1, 1, 0)


def test_high_priority_jumps_the_queue(make_queue):
    queue = make_queue()
    for n in range(3):
        queue.send({"n": n})
    queue.send({"n": "urgent"}, priority="high")
    first = queue.receive(wait_s=2)
    assert [m.body for m in first] == [{"n": "urgent"}]
    rest = []
    deadline = time.monotonic() + 10
    while len(rest) < 3 and time.monotonic() < deadline:
        rest += [m.body["n"] for m in queue.receive(max_messages=3, wait_s=1)]
    assert sorted(rest) == [0, 1, 2]


def test_a_queue_without_priorities_never_looks_for_a_high_twin(make_queue):
    queue = make_queue()
    if not isinstance(queue, SqsQueue):
        pytest.skip("SQS only: the -high twin queue is how SQS gets priorities")
    plain = SqsQueue(queue.url, visibility_timeout_s=30, priorities=False)
    plain.send({"n": 1}, priority="high")
    [message] = plain.receive(wait_s=2)
    assert message.body == {"n": 1}
    assert plain.requests["GetQueueUrl"] == 0
    assert plain.requests["ReceiveMessage"] == 1  # the normal queue only, not a short poll of a twin first
    plain.close()


def test_change_visibility_many_extends_the_valid_and_names_the_stale(make_queue):
    queue = make_queue(visibility_timeout_s=2)
    queue.send({"n": "kept"})
    queue.send({"n": "lost"})
    first = _receive(queue, 2)
    kept, lost = sorted(first, key=lambda m: m.body["n"])
    queue.change_visibility(kept.receipt, 30)
    [again] = _receive(queue, 1)  # "lost" became visible and was received anew
    assert again.body == {"n": "lost"}
    queue.delete(again.receipt)  # its first receipt is stale now
    assert queue.change_visibility_many([kept.receipt, lost.receipt], 30) == [lost.receipt]
    time.sleep(2.5)
    assert queue.receive(max_messages=2, wait_s=0) == []  # "kept" stayed hidden


def test_a_keeper_holds_messages_hidden_until_released(make_queue):
    queue = make_queue(visibility_timeout_s=2)
    queue.send({"n": "held"})
    queue.send({"n": "let go"})
    keeper = VisibilityKeeper(queue, 2)
    try:
        for message in _receive(queue, 2):
            keeper.hold(message.receipt)
            if message.body["n"] == "let go":
                keeper.release(message.receipt)
        seen = []
        deadline = time.monotonic() + 4.5  # more than twice the visibility timeout
        while time.monotonic() < deadline:
            seen += [m.body["n"] for m in queue.receive(max_messages=2, wait_s=0.5)]
        assert "let go" in seen and "held" not in seen
    finally:
        keeper.close()


def _receive(queue, count: int, timeout_s: float = 8):
    """``count`` messages, over as many receives as it takes."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got += queue.receive(max_messages=count - len(got), wait_s=1)
    assert len(got) == count
    return got
