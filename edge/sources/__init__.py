"""Audio sources: where a line's samples come from.

Every source yields `SourceItem`s for one line: `Frame`s at the working rate, in order, with
no gaps in stream time, `SourceFlag`s for conditions a reviewer should know about, and
finally at most one `SourceEnd` saying why the audio stopped.
Three kinds, picked by the line's `source` key in edge.line.LineSources: `wav` (one file),
`replay` (a folder of recordings fed as if live) and `capture` (a sound card, through sounddevice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

from edge.events import Frame


class SourceError(Exception):
    """Audio that cannot be used; the message names the file or device and what is wrong."""


@dataclass(frozen=True)
class SourceEnd:
    """The source has no more audio. reason: 'source_end' (file done) or 'device_lost'."""

    line: str
    t: float
    reason: str = "source_end"
    detail: str = ""


@dataclass(frozen=True)
class SourceFlag:
    """Something about the audio from time `t` on that the call's reviewer should know,
    e.g. 'truncated_input' (a damaged file, read up to where it breaks)."""

    line: str
    t: float
    flag: str


SourceItem = Union[Frame, SourceEnd, SourceFlag]
Source = Iterator[SourceItem]
