"""The box client's units on their own, without a broker: the durable queue's fallback to
memory, the send window's order and retries, the status schedule and the inbound commands."""

from __future__ import annotations

from callqa_contract.messages import BoxId, Envelope
from callqa_contract.topics import Topics
from edge.config import OutboxConfig
from edge.events import CallBoundary
from edge.mqtt.durable import DurableQueue
from edge.mqtt.inbound import InboundCommands, LightAck
from edge.mqtt.outbox import OutboxMessage
from edge.mqtt.status import DeliveryHealth, StatusReport
from edge.mqtt.window import REFUSED_RETRY_S, RESEND_WAIT_S, PubAck, SendWindow

BOUNDS = OutboxConfig(max_messages=10)


class Paho:
    """Stands in for paho's publish: records what was handed over, numbers it like paho."""

    def __init__(self):
        self.sent: list[OutboxMessage] = []

    def publish(self, m: OutboxMessage) -> int:
        self.sent.append(m)
        return len(self.sent)

    def ids(self) -> list[str]:
        return [m.msg_id for m in self.sent]


def queue_of(path, n: int, failures: list | None = None) -> DurableQueue:
    failures = [] if failures is None else failures
    q = DurableQueue(path, BOUNDS, on_failure=lambda: failures.append(1))
    q.open()
    for i in range(n):
        q.put(f"m{i}", "t", "l1", lambda seq: b"{}")
    return q


def test_an_unwritable_outbox_queues_in_memory_bounded_and_counted(tmp_path):
    (tmp_path / "file").write_text("")
    failures: list = []
    q = queue_of(tmp_path / "file" / "outbox.sqlite", 12, failures)  # its folder cannot be created
    assert q.error and "outbox" in q.error and failures
    assert (q.depth(), q.undurable, q.dropped()) == (10, 12, 2)
    taken = q.take_from_memory(3)
    assert [m.msg_id for m in taken] == ["m2", "m3", "m4"] and q.depth() == 7
    q.return_to_memory(taken)
    assert [m.msg_id for m in q.take_from_memory(4)] == ["m2", "m3", "m4", "m5"]


def test_the_window_hands_over_in_order_and_delivery_does_not_delete(tmp_path):
    q, paho = queue_of(tmp_path / "o.sqlite", 5), Paho()
    window = SendWindow(q, paho.publish, size=3)
    window.fill()
    assert paho.ids() == ["m0", "m1", "m2"]
    window.fill()
    assert len(paho.sent) == 3  # the window is full
    assert window.settle(PubAck(1, False, "Success")).msg_id == "m0"
    assert q.depth() == 5  # out of the window, still in the queue until removed
    window.fill()
    assert paho.ids()[3:] == ["m3"]
    assert window.settle(PubAck(99, False, "Success")) is None  # a status publish


def test_a_refused_message_is_sent_again_from_its_place_after_the_retry_time(tmp_path):
    now = [0.0]
    q, paho = queue_of(tmp_path / "o.sqlite", 3), Paho()
    window = SendWindow(q, paho.publish, clock=lambda: now[0])
    window.fill()
    for mid in (1, 2, 3):
        window.settle(PubAck(mid, mid == 2, "Not authorized"))
    q.remove(["m0", "m2"])
    window.fill()
    assert len(paho.sent) == 3  # not before the retry time
    now[0] += REFUSED_RETRY_S
    window.fill()
    assert paho.ids()[3:] == ["m1"]  # same msg_id, nothing after it sent twice


def test_after_a_reconnect_new_messages_wait_for_pahos_resends(tmp_path):
    now = [0.0]
    q, paho = queue_of(tmp_path / "o.sqlite", 2), Paho()
    window = SendWindow(q, paho.publish, size=1, clock=lambda: now[0])
    window.fill()
    window.reconnected()
    window.settle(PubAck(1, False, "Success"))  # paho's resend of m0 is answered
    window.fill()
    assert paho.ids() == ["m0", "m1"]
    window.reconnected()
    window.fill()
    assert paho.ids() == ["m0", "m1"]  # m1 unanswered: paho resends it, we wait
    now[0] += RESEND_WAIT_S
    window.fill()
    assert paho.ids() == ["m0", "m1", "m1"]


def test_messages_from_memory_count_as_pending_while_in_the_window(tmp_path):
    (tmp_path / "file").write_text("")
    q, paho = queue_of(tmp_path / "file" / "o.sqlite", 2), Paho()
    window = SendWindow(q, paho.publish)
    window.fill()
    assert (q.depth(), window.in_flight_from_memory()) == (0, 2)
    window.settle(PubAck(1, True, "Not authorized"))  # back to memory, in front
    assert (q.depth(), window.in_flight_from_memory()) == (1, 1)


def test_status_is_due_on_change_and_on_the_interval():
    report = StatusReport(["l1"], None, BOUNDS, interval_s=60, started=0.0)
    ok = DeliveryHealth(dropped=0, undurable=0, refused=0, outbox_error=None)
    assert report.due(ok)
    report.published()
    assert not report.due(ok)
    worse = DeliveryHealth(dropped=3, undurable=0, refused=1, outbox_error=None)
    assert report.due(worse)
    body = report.online(worse, outbox_depth=7)
    assert (body["outbox_depth"], body["dropped"], body["refused"]) == (7, 3, 1)
    assert body["alerts"] == ["3 unsent scores/alerts dropped at the outbox bound (10 messages, 168 h)",
                              "1 messages refused by the privacy check"]
    assert report.offline() == {"state": "offline", "version": body["version"], "lines": ["l1"], "model": None,
                                "session": body["session"]}


def test_inbound_commands_become_events_once():
    topics = Topics("callqa/v1", "hq", "g1", "box1")
    inbound = InboundCommands("callqa/v1", ["l1"], stream_clock=lambda line: 12.5)
    start = Envelope.new("call_event", BoxId("hq", "g1", "cti"), {"event": "start", "call_ref": "c-7"}).to_json()
    assert inbound.read(topics.call_event("l1"), start) == CallBoundary("l1", "start", 12.5, "c-7")
    assert inbound.read(topics.call_event("l1"), start) is None  # a QoS 1 redelivery
    other_line = Envelope.new("call_event", BoxId("hq", "g1", "cti"), {"event": "end", "call_ref": None}).to_json()
    assert inbound.read(topics.call_event("l9"), other_line) is None
    ack = Envelope.new("light_ack", BoxId("hq", "g1", "light"), {"alert_id": None, "by": "desk"}).to_json()
    assert inbound.read(topics.ack, ack) == LightAck(None, "desk")
    assert inbound.read(topics.call_event("l1"), b"not json") is None
