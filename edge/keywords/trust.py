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

from edge.config import Config, ConfigError, KeywordsConfig
from edge.keywords.model import ModelInfo

SCHEMA = "callqa.keyword-trust/1"
TRUST_RECALL = 0.9
TRUST_MIN_OCCURRENCES = 30
DEFAULT_NAME = "keyword-trust.json"  # in <box.state_dir>, unless [keywords] trust says otherwise


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

    def why(self, category: str, running_model: str) -> str:
        """In words, why `category` is trusted or not: what a not-measured item's evidence and
        `callqa doctor` say (e.g. "category greeting: recall 0.72 over 41 teacher occurrences,
        below 0.9")."""
        if self.model != running_model:
            return (f"no trust measurement for this model (the file measured {short_model(self.model)}, "
                    f"this box runs {short_model(running_model)})")
        cat = self.categories.get(category)
        if cat is None:
            return f"category {category}: not in the trust measurement"
        measured = (f"recall {cat.recall:.3g} over {cat.teacher_occurrences} teacher occurrences"
                    if cat.recall is not None else "no teacher occurrences")
        if cat.teacher_occurrences < TRUST_MIN_OCCURRENCES:
            return f"category {category}: {measured}, fewer than {TRUST_MIN_OCCURRENCES}"
        if not cat.trusted:
            return f"category {category}: {measured}, below {TRUST_RECALL}"
        return f"category {category}: {measured}, trusted"

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
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return f"{Path(path).name} sha256:{digest}"


def short_model(identity: str) -> str:
    """`kws.int8.onnx sha256:0123456789ab…`: enough of the digest for a person to compare."""
    name, _, digest = identity.partition(" sha256:")
    return f"{name} sha256:{digest[:12]}…" if digest else identity


def running_model(kcfg: KeywordsConfig) -> str:
    """model_identity() of the spotter model this config runs (runtime and precision included)."""
    return model_identity(ModelInfo.load(kcfg.model).file(kcfg.runtime, kcfg.precision))


def trust_path(cfg: Config) -> Path:
    """Where the box reads its trust file: `[keywords] trust`, else <box.state_dir>/keyword-trust.json."""
    return cfg.keywords.trust or cfg.box.state_dir / DEFAULT_NAME


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
