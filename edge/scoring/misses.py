"""Where a phrase the spotter did not hear counts against the agent (config
keywords.count_missing_phrases), decided once per rubric: at start and on the SIGHUP reload,
never per call.

    false   nowhere: a miss is no evidence (the default; the shipped model misses most real voices)
    true    in every category
    "auto"  in the categories the keyword trust file (edge/keywords/trust.py) trusts, for the
            model this box runs; without a usable file for that model, in none

Elsewhere an item that would fail only on a phrase not heard stays not_measured, and its
evidence says why (items._heard); the CallScore's `keyword_trust` says which categories counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from edge.config import Config, ConfigError
from edge.keywords.trust import KeywordTrust, running_model, short_model, trust_path
from edge.scoring.rubric import Rubric

log = logging.getLogger(__name__)

NOT_COUNTED = ("a phrase not heard is not counted against the agent: the keyword model is not "
               "known to hear this site's voices (config keywords.count_missing_phrases)")
AUTO = "a phrase not heard is not counted against the agent (keywords.count_missing_phrases = auto)"
# What became of the trust file under "auto"; `callqa doctor` fails an unusable one and warns
# of the other two, the log says them at the matching level.
TrustFile = Literal["in force", "absent", "other model", "unusable"]
LOG_LEVEL = {"absent": logging.WARNING, "other model": logging.WARNING, "unusable": logging.ERROR}


def remedy(path: Path) -> str:
    """What to do about a trust file that is absent, unusable or for another model."""
    return (f"measure one on a few of this site's own calls: `callqa eval-kws --teacher DIR --trust-out {path}`, "
            "then `systemctl reload callqa`")


def miss_categories(rubric: Rubric) -> tuple[str, ...]:
    """The rubric's categories where a phrase not heard can fail an item: those of the judges
    that end in items._heard (a phrase that must be present, a rate with a minimum, an apology)."""
    return tuple(sorted({i.category for i in rubric.items if i.category is not None and (
        i.signal in ("keyword_present", "apology") or (i.signal == "keyword_rate" and i.min is not None))}))


@dataclass(frozen=True)
class MissedPhrases:
    mode: bool | Literal["auto"]  # the config value
    trusted: tuple[str, ...] = ()  # sorted: the categories where a phrase not heard counts
    measured: str | None = None  # auto: when the trust file in force was measured (UTC)
    why_not: Mapping[str, str] = field(default_factory=dict)  # auto: per untrusted category, the reason
    trust_file: TrustFile | None = None  # auto: what became of the trust file
    summary: str = ""  # auto: that, in words, for the log and `callqa doctor`

    def count_in(self, category: str) -> bool:
        return self.mode is True or (self.mode == "auto" and category in self.trusted)

    def reason(self, category: str) -> str:
        """Why a phrase not heard in `category` does not count: a not-measured item's evidence."""
        return f"{AUTO}: {self.why_not[category]}" if self.mode == "auto" else NOT_COUNTED

    def account(self) -> str:
        """Under "auto", what the trust file means, with why each untrusted category is not (the
        reasons are all one when no file for this model is in force): for the log and doctor."""
        if self.trust_file != "in force":
            return self.summary
        return "; ".join([self.summary, *self.why_not.values()])

    def to_dict(self) -> dict[str, Any]:
        """The CallScore's `keyword_trust`."""
        return {"mode": self.mode, "trusted": list(self.trusted), "measured": self.measured}

    @classmethod
    def read(cls, cfg: Config, rubric: Rubric) -> "MissedPhrases":
        """The config's choice; with "auto", what the trust file says for the model this box runs."""
        mode = cfg.keywords.count_missing_phrases
        categories = miss_categories(rubric)
        if mode != "auto" or not cfg.keywords.enabled:
            return cls(mode is True, categories if mode is True else ())
        path = trust_path(cfg)
        try:
            trust = KeywordTrust.read(path)
        except ConfigError as e:
            return cls("auto", why_not=dict.fromkeys(categories, f"the keyword trust file is unusable ({e})"),
                       trust_file="unusable", summary=f"{e}: no category is trusted")
        if trust is None:
            return cls("auto", why_not=dict.fromkeys(categories, f"no keyword trust file at {path}"),
                       trust_file="absent", summary=f"no keyword trust file at {path}: no category is trusted")
        model = running_model(cfg.keywords)
        trusted = tuple(c for c in categories if trust.trusted(c, model))
        why_not = {c: trust.why(c, model) for c in categories if c not in trusted}
        if trust.model != model:
            return cls("auto", why_not=why_not, trust_file="other model",
                       summary=f"{path} measured {short_model(trust.model)}, this box runs {short_model(model)}: "
                               "no category is trusted until it is measured again")
        return cls("auto", trusted, trust.measured, why_not, "in force",
                   f"{path}, measured {trust.measured} by {trust.source} on {trust.audio_s / 3600:.1f} h at "
                   f"{trust.rate} Hz: a missing phrase counts in {', '.join(trusted) or 'no category'}")

    @classmethod
    def from_config(cls, cfg: Config, rubric: Rubric) -> "MissedPhrases":
        """`read`, and under "auto" what the trust file means said in the log."""
        missed = cls.read(cfg, rubric)
        if missed.trust_file == "in force":
            log.info("keyword trust: %s", missed.account())
        elif missed.trust_file is not None:
            log.log(LOG_LEVEL[missed.trust_file], "keyword trust: %s; %s", missed.account(), remedy(trust_path(cfg)))
        return missed


NONE_COUNTED = MissedPhrases(False)  # count_missing_phrases = false: what a call is judged under unless told
