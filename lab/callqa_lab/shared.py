"""Where the team's shared material is: `shared/` beside the checkout (as CI lays it out), or
the folder CALLQA_SHARED names. The evaluation sets in shared/data are never trained on."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("CALLQA_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
REAL_ZH = SHARED / "data" / "real_zh"  # evaluation only
SEEDS = SHARED / "seeds"
