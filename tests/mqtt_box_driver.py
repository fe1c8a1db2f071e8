"""A box as a separate process for the kill -9 test: loads a config, publishes generated
CallScores through MqttSink, and prints `stored <call_id>` once each is durably in the outbox.

    python3 -m tests.mqtt_box_driver CONFIG --calls N [--first-seq S] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from edge.config import ConfigError, load_config
from callqa_contract.messages import BoxId
from edge.mqtt.sink import MqttSink
from callqa_lab.synthetic import synthetic_score


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("--calls", type=int, required=True, help="calls per line")
    p.add_argument("--first-seq", type=int, default=0)
    p.add_argument("--interval", type=float, default=0.0, help="pause between rounds of one call per line")
    p.add_argument("--run-for", type=float, default=0.0, help="stay up this long after producing (s)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
        sink = MqttSink(cfg).start()
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    box = BoxId(cfg.box.site, cfg.box.group, cfg.box.id)
    for seq in range(args.first_seq, args.first_seq + args.calls):
        for line in cfg.lines:
            score = synthetic_score(box, line.name, seq)
            sink.on_score(score)
            print("stored", score.call_id, flush=True)
        time.sleep(args.interval)
    time.sleep(args.run_for)
    sink.close(drain_s=10.0)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
