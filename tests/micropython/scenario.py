# A desk light's life, scripted, printed as one JSON document: run under CPython and under
# real MicroPython, the two must print the same thing. MicroPython syntax only (no f-strings,
# no annotations); the network is a scripted stand-in with umqtt.simple's methods.
import json

from desklight import isotime, messages, pattern
from desklight.app import DeskLight, Output
from desklight.settings import Settings, SettingsError

WALL0 = 1795705334000  # 2026-11-26T15:02:14Z in ms
GROUP = "callqa/v1/hq/g1/"


class Clock:
    def __init__(self):
        self.now = 0
        self.wall_known = True

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, d):
        return a + d

    def wall_ms(self):
        return WALL0 + self.now


class Broker:
    """Retained messages and a queue per connection, like a broker does for one client."""

    def __init__(self):
        self.up = True
        self.retained = {}
        self.inbox = []
        self.published = []


class Client:
    def __init__(self, broker):
        self.b = broker
        self.cb = None

    def set_callback(self, f):
        self.cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        pass

    def connect(self, clean_session=True):
        if not self.b.up:
            raise OSError(111)
        self.b.inbox = []
        return 0

    def subscribe(self, topic, qos=0):
        if topic.endswith("+/light"):
            for t in sorted(self.b.retained):
                self.b.inbox.append((t.encode(), self.b.retained[t]))

    def publish(self, topic, msg, retain=False, qos=0):
        if not self.b.up:
            raise OSError(-1)
        self.b.published.append((topic.decode(), msg.decode()))
        self.b.inbox.append((topic, msg))  # the light hears its own ack, as on a real broker

    def check_msg(self):
        if not self.b.up:
            raise OSError(-1)
        if not self.b.inbox:
            return None
        t, m = self.b.inbox.pop(0)
        self.cb(t, m)
        return 0x30

    def ping(self):
        if not self.b.up:
            raise OSError(-1)

    def disconnect(self):
        pass


class Ring(Output):
    def __init__(self):
        self.look = None
        self.pixels = None

    def show(self, look, now_ms, publish):
        self.look = look
        self.pixels = pattern.frame(look, now_ms, 12, 1.0)


class Button:
    def __init__(self):
        self.down = False

    def is_down(self):
        return self.down


class Link:
    def is_up(self):
        return True

    def connect(self):
        pass


def light_msg(box, state, alert_id, line, since_ms, expires_ms):
    body = {"state": state, "blink": state == "red", "reason": "test", "line": line, "call_id": "c1",
            "alert_id": alert_id, "since": isotime.format_ms(since_ms),
            "expires": isotime.format_ms(expires_ms) if expires_ms else None}
    return json.dumps({"schema": "callqa.msg/1", "kind": "light", "msg_id": "0" * 32,
                       "created": isotime.format_ms(since_ms),
                       "box": {"site": "hq", "group": "g1", "id": box}, "body": body}).encode()


record = []
clock = Clock()
broker = Broker()
ring = Ring()
button = Button()
s = Settings({"mqtt": {"host": "b", "port": 1883, "tls": False, "keepalive_s": 10, "backoff_max_s": 4},
              "topics": {"site": "hq", "group": "g1"}, "light": {"id": "desk-1", "long_press_ms": 1000}}, "scenario")
light = DeskLight(s, clock, ring, Link(), lambda: Client(broker), button, lambda m: None)


def run(ms, label):
    end = clock.now + ms
    while clock.now < end:
        light.step()
        clock.now += 20
    lk = ring.look
    record.append([label, clock.now, lk.kind, lk.blink, lk.line_no, lk.alert_id,
                   sum(1 for p in ring.pixels if p != (0, 0, 0)), list(ring.pixels[0])])


def box_says(box, state, alert_id, line, expires_in_ms):
    topic = GROUP + box + "/light"
    payload = light_msg(box, state, alert_id, line, WALL0 + clock.now,
                        WALL0 + clock.now + expires_in_ms if expires_in_ms else None)
    broker.retained[topic] = payload
    broker.inbox.append((topic.encode(), payload))


run(100, "start")
box_says("box-a", "red", "r1", "line3", 60000)
run(100, "insult")
for t in range(0, 500, 100):
    run(100, "blinking")
box_says("box-b", "amber", "a1", "line7", 30000)
run(100, "amber behind red")
button.down = True
run(100, "pressed")
button.down = False
run(100, "released")
run(31000, "amber expired")
broker.up = False
run(100, "broker lost")
for t in range(0, 4000, 500):
    run(500, "breathing")
broker.up = True
box_says("box-c", "red", "r2", "front", None)
run(5000, "back")
button.down = True
run(1200, "held")
button.down = False
run(100, "let go")
broker.inbox.append(((GROUP + "box-d/light").encode(), b"{not json"))
run(100, "garbage")

acks = []
for topic, payload in broker.published:
    m = json.loads(payload)
    acks.append([topic, m["kind"], m["created"], m["body"], len(m["msg_id"]), m["msg_id"][12]])

errors = []
for bad in ({"mqtt": {"host": ""}}, {"mqtt": {"host": "h", "port": "x"}},
            {"mqtt": {"host": "h"}, "topics": {"site": "a b", "group": "g"}, "light": {"id": "x"}}):
    try:
        Settings(bad, "config.json")
    except SettingsError as e:
        errors.append(str(e))

times = [isotime.parse_ms(t) for t in ("2026-11-26T15:02:14Z", "2026-11-26T15:02:14.25+01:00",
                                        "2024-02-29T23:59:59.999-08:00", "1970-01-01T00:00:00Z")]
print(json.dumps({"record": record, "acks": acks, "errors": errors, "times": times,
                  "formatted": [isotime.format_ms(t) for t in times]}))
