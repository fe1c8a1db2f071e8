"""What the pipeline commands share: loading config and rubric, building a line's pipeline."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

from edge.config import Config, load_config
from edge.events import ScoreSink
from edge.pipeline import KeywordStage, LinePipeline
from edge.scoring.rubric import Rubric, load_rubric

log = logging.getLogger(__name__)


def load_setup(config_path: Path | None) -> tuple[Config, Rubric]:
    """Config (defaults when no file) and rubric; either refused at start when bad."""
    cfg = load_config(config_path) if config_path else Config()
    return cfg, load_rubric(cfg.rubric.path)


def keyword_stage(cfg: Config, rubric: Rubric, line: str) -> KeywordStage | None:
    """A keyword spotter for one line, or None when this box has none (keyword items are
    then reported as not measured)."""
    spotter = _spotter_class() if cfg.keywords.enabled else None
    if spotter is None:
        return None
    return spotter.from_config(cfg.keywords, rubric.phrases(), rubric.thresholds(), line)


@functools.lru_cache(maxsize=1)
def _spotter_class():
    """edge.keywords' KeywordSpotter, or None (said once, not once per line or file)."""
    try:
        from edge.keywords.spotter import KeywordSpotter
    except ImportError:
        log.warning("keyword spotting is not installed: keyword items are reported as not measured")
        return None
    return KeywordSpotter


def line_pipeline(line: str, cfg: Config, rubric: Rubric, sinks: Sequence[ScoreSink],
                  epoch: datetime | None = None, call_numbers: Iterator[int] | None = None) -> LinePipeline:
    return LinePipeline(line, cfg, rubric, sinks, epoch, keyword_stage(cfg, rubric, line), call_numbers)
