"""The rubric: the centre's QA standard as a TOML file QA staff edit without touching code.

Each item names the signal it is judged on (see SIGNAL_PARAMS), its thresholds, its points
(the item's full weight), its deduction (flat, or per event for counted signals, never more
than the points), its section, whether failing it fails the whole call (fatal) and the
severity of the live alert it raises while the call goes on. Keyword categories hold the
phrase lists and the spotting threshold per category. A bad rubric is refused at start with
the file, the key and what is wrong.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config import ConfigError, format_validation_error, read_toml

# Signal → parameters it needs (all must be set) and may take.
SIGNAL_PARAMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # prosody of the agent side
    "speech_rate": (frozenset({"min", "max"}), frozenset()),  # syllables/s of speech
    "pitch_range": (frozenset({"min"}), frozenset()),  # semitones, 5th–95th percentile
    "warmth": (frozenset({"min"}), frozenset()),  # pitch variation (std, semitones): a weak proxy
    "clarity": (frozenset({"min", "max"}), frozenset()),  # min active level dBFS, max clipping ratio
    "drawn_out": (frozenset({"max_count"}), frozenset()),
    "raised_voice": (frozenset({"max_count"}), frozenset()),
    # conversation (VAD on both sides)
    "interruptions": (frozenset({"max_count"}), frozenset()),
    "dead_air": (frozenset({"max_count", "min_s"}), frozenset({"alert_after_s"})),
    # holds (calls.end_silence_s or more of silence the call went on after) of at least min_s
    "holds": (frozenset({"max_count", "min_s"}), frozenset()),
    "response_latency": (frozenset({"max"}), frozenset()),  # p90, s
    "talk_ratio": (frozenset({"min", "max"}), frozenset()),  # agent talk / customer talk
    "last_speaker": (frozenset(), frozenset()),  # the agent closes; the customer hangs up first
    # keyword spotting
    "keyword_present": (frozenset({"category", "window", "within_s"}), frozenset()),
    "keyword_absent": (frozenset({"category"}), frozenset()),
    "keyword_rate": (frozenset({"category"}), frozenset({"min", "max"})),  # per minute of agent speech
    # after customer agitation: a customer raised-voice event lasting at least min_s (s)
    "apology": (frozenset({"category", "within_s"}), frozenset({"min_s"})),
    # what the box cannot hear: left to human QA, always reported as not measured
    "human_review": (frozenset(), frozenset()),
}
KEYWORD_SIGNALS = frozenset({"keyword_present", "keyword_absent", "keyword_rate", "apology"})
PARAMS = ("min", "max", "max_count", "min_s", "alert_after_s", "category", "window", "within_s")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeywordCategory(_Model):
    phrases: tuple[str, ...] = Field(min_length=1)
    # spotter confidence needed to count a hit; None: the keyword model's own thresholds,
    # calibrated per phrase (and per phrase length for phrases added later), precision first
    threshold: float | None = Field(None, gt=0, lt=1)


class Item(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    section: str
    signal: Literal[tuple(SIGNAL_PARAMS)]  # type: ignore[valid-type]
    points: float = Field(gt=0)
    deduction: float = Field(ge=0)
    fatal: bool = False
    alert: Literal["red", "amber"] | None = None
    min: float | None = None
    max: float | None = None
    max_count: int | None = Field(None, ge=0)
    min_s: float | None = Field(None, gt=0)
    alert_after_s: float | None = Field(None, gt=0)
    category: str | None = None
    window: Literal["opening", "closing"] | None = None
    within_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _params_fit_signal(self) -> "Item":
        required, optional = SIGNAL_PARAMS[self.signal]
        given = {p for p in PARAMS if getattr(self, p) is not None}
        missing = sorted(required - given)
        if missing:
            raise ValueError(f"signal '{self.signal}' needs {', '.join(missing)}")
        extra = sorted(given - required - optional)
        if extra:
            raise ValueError(f"signal '{self.signal}' takes no {', '.join(extra)}")
        if self.min is not None and self.max is not None and self.signal != "clarity" and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.deduction > self.points:
            raise ValueError(f"deduction {self.deduction} is more than the item's points {self.points}")
        return self

    @property
    def needs_keywords(self) -> bool:
        return self.signal in KEYWORD_SIGNALS


class Rubric(_Model):
    name: str = "rubric"
    pass_mark: float = Field(80.0, ge=0, le=100)  # % of the measured items' points
    sections: dict[str, float]  # section name → weight (points); items' points must add up to it
    keywords: dict[str, KeywordCategory] = {}
    items: tuple[Item, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "Rubric":
        ids = [i.id for i in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"item ids must be unique, repeated: {dup}")
        for n, item in enumerate(self.items):
            if item.section not in self.sections:
                raise ValueError(f"items.{n}.section: '{item.section}' is not one of sections {sorted(self.sections)}")
            if item.category is not None and item.category not in self.keywords:
                raise ValueError(f"items.{n}.category: '{item.category}' has no [keywords.{item.category}] phrase list")
        for section, weight in self.sections.items():
            total = sum(i.points for i in self.items if i.section == section)
            if abs(total - weight) > 1e-6:
                raise ValueError(f"sections.{section}: weight {weight:g} but its items' points add up to {total:g}")
        return self

    def item(self, signal: str) -> Item | None:
        """The first item judged on `signal` (None when the rubric does not use it)."""
        return next((i for i in self.items if i.signal == signal), None)

    def phrases(self) -> dict[str, list[str]]:
        return {k: list(c.phrases) for k, c in self.keywords.items()}

    def thresholds(self) -> dict[str, float]:
        return {k: c.threshold for k, c in self.keywords.items() if c.threshold is not None}


DEFAULT_RUBRIC = "default_rubric.toml"


def load_rubric(path: Path | str | None = None) -> Rubric:
    """The rubric at `path`, or the one shipped in the package."""
    if path is None:
        ref = resources.files("edge.scoring") / DEFAULT_RUBRIC
        source, data = f"(package) edge/scoring/{DEFAULT_RUBRIC}", None
        with resources.as_file(ref) as p:
            data = read_toml(p)
    else:
        source, data = str(path), read_toml(Path(path))
    try:
        return Rubric.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(source, e)) from None
