"""The keyword trust file: per rubric category, how well this box's spotter hears this site's
voices, measured against the teacher (a real-speech recogniser).

Written by `callqa eval-kws --teacher ... --trust-out PATH` (and by learning mode), read by the
box from `[keywords] trust`. A category is trusted when the spotter found at least
TRUST_RECALL of the teacher's occurrences over at least TRUST_MIN_OCCURRENCES of them, and only
while the file measured the model the box runs: a retrained model invalidates the file.
The file holds counts only, never a transcript.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from edge.config import ConfigError

SCHEMA = "callqa.keyword-trust/1"
TRUST_RECALL = 0.9
TRUST_MIN_OCCURRENCES = 30


@dataclass(frozen=True)
class CategoryTrust:
    teacher_occurrences: int  # phrase occurrences the teacher heard
    found: int  # of those, how many the spotter found too
    recall: float | None  # found / teacher_occurrences (None: no occurrences)
    unconfirmed: int  # spotter hits the teacher does not confirm
    unconfirmed_per_h: float

    @property
    def trusted(self) -> bool:
        return (self.teacher_occurrences >= TRUST_MIN_OCCURRENCES and self.recall is not None
                and self.recall >= TRUST_RECALL)


@dataclass(frozen=True)
class KeywordTrust:
    measured: str  # UTC, ISO 8601 with Z
    source: str  # what measured it: "eval-kws --teacher", "learning mode"
    model: str  # model_identity() of the spotter model measured
    rate: int
    audio_s: float
    categories: dict[str, CategoryTrust] = field(default_factory=dict)

    def trusted(self, category: str, running_model: str) -> bool:
        """Whether a missing phrase of `category` is evidence, for a box running `running_model`."""
        cat = self.categories.get(category)
        return cat is not None and self.model == running_model and cat.trusted

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, **asdict(self)}

    def write(self, path: Path) -> None:
        """Atomically: a box reading it mid-write sees the old file or the new one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".new")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> "KeywordTrust | None":
        """The file at `path`; None when there is none (nothing trusted); ConfigError when it is
        not a trust file."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ConfigError(f"keywords.trust: {path}: not readable as JSON ({e})") from None
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise ConfigError(f"keywords.trust: {path}: not a {SCHEMA} file")
        try:
            cats = {str(k): CategoryTrust(**v) for k, v in raw["categories"].items()}
            return cls(str(raw["measured"]), str(raw["source"]), str(raw["model"]), int(raw["rate"]),
                       float(raw["audio_s"]), cats)
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"keywords.trust: {path}: missing or unexpected field ({e})") from None


def model_identity(path: Path) -> str:
    """How a trust file names the spotter model it measured: `kws.int8.onnx sha256:…`."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"{Path(path).name} sha256:{digest}"


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
