"""`callqa doctor`'s checks: each says pass / warn / fail / skip, what it saw, and the fix.

One function per thing a site technician can get wrong, in the order they would fix them:
config, rubric, keyword model, audio device, levels, clock, outbox, broker, topics. A check
never raises: whatever goes wrong becomes a failed row with its message.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from edge.config import Config, ConfigError
from edge.keywords.trust import trust_path
from edge.line import LineSources, keyword_stage
from edge.ops.clock import clock_synchronised
from edge.ops.levels import LevelMeter
from edge.ops.tap import TapError, channel_roles, list_input_devices
from edge.scoring.misses import MissedPhrases, remedy
from edge.scoring.rubric import Rubric, load_rubric
from edge.sources import SourceError
from edge.sources.capture import LineTap, SoundDevice, check_taps

Status = Literal["pass", "warn", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    fix: str = ""


def check_rubric(cfg: Config) -> str | None:
    """None when the rubric is usable, else the problem naming file and key."""
    try:
        load_rubric(cfg.rubric.path)
    except ConfigError as e:
        return str(e)
    return None


def rubric(cfg: Config) -> list[CheckResult]:
    problem = check_rubric(cfg)
    where = str(cfg.rubric.path) if cfg.rubric.path else "the packaged rubric"
    if problem:
        return [CheckResult("rubric", "fail", problem, f"correct {where} at the key named, then `systemctl reload callqa`")]
    return [CheckResult("rubric", "pass", where)]


def keywords(cfg: Config) -> list[CheckResult]:
    """The keyword model loads with the rubric's phrase lists and runs on a second of audio."""
    if not cfg.keywords.enabled:
        return [CheckResult("keywords", "skip", "keywords.enabled = false: keyword items are not measured")]
    from edge.events import Side

    fix = "reinstall with scripts/install.sh (it puts the model in the venv's share/callqa/models), or correct keywords.model"
    rate = LineSources.of(cfg).rate
    started = time.perf_counter()
    rubric = load_rubric(cfg.rubric.path)
    stage = keyword_stage(cfg, rubric, cfg.lines[0].name if cfg.lines else "doctor", rate)
    if stage is None:
        return [CheckResult("keywords", "fail", "keyword spotting is not installed in this build", fix)]
    loaded = time.perf_counter()
    noise = np.random.default_rng(0).normal(0, 300, rate).astype(np.int16)  # a second of line hiss
    stage.process(Side.AGENT, noise, 0.0)
    stage.flush(Side.AGENT)
    ran = time.perf_counter()
    from edge.keywords.model import DEFAULT_MANIFEST

    where = cfg.keywords.model or DEFAULT_MANIFEST
    counted = {True: "counts against the agent", False: "is not counted (keywords.count_missing_phrases = false)",
               "auto": "counts against the agent only where the keyword trust file trusts its category (below)"}
    row = CheckResult("keywords", "pass", f"{where} ({cfg.keywords.runtime}): loaded in {loaded - started:.1f} s, "
                      f"1 s of audio in {1000 * (ran - loaded):.0f} ms; a phrase not heard "
                      + counted[cfg.keywords.count_missing_phrases])
    return [row] + keyword_trust(cfg, rubric)


TRUST_STATUS: dict[str, Status] = {"in force": "pass", "absent": "warn", "other model": "warn", "unusable": "fail"}


def keyword_trust(cfg: Config, rubric: Rubric) -> list[CheckResult]:
    """Under count_missing_phrases = "auto": which categories the trust file trusts, and why not the others."""
    missed = MissedPhrases.read(cfg, rubric)
    if missed.trust_file is None:
        return []
    fix = "" if missed.trust_file == "in force" else remedy(trust_path(cfg))
    return [CheckResult("keyword trust", TRUST_STATUS[missed.trust_file], missed.account(), fix)]


TEACHER_CLIP_S = 10.0  # of the bench call: short enough for doctor, one 30 s window to decode


def teacher(cfg: Config) -> list[CheckResult]:
    """The teacher folder verifies, loads, and how fast it runs on the bench call's first seconds
    (what it heard is not shown: a transcript stays out of doctor's table too)."""
    folder = cfg.keywords.teacher
    if folder is None:
        return [CheckResult("teacher", "skip", "no teacher (keywords.teacher unset): the box runs without one")]
    from edge.bench import BENCH_CALL
    from edge.keywords.teacher import Teacher, TeacherError
    from edge.sources.wav import load_recording

    fix = "`callqa teacher install` (needs the teacher extra: scripts/install.sh --teacher), or correct keywords.teacher"
    try:
        loaded = Teacher.load(folder)
    except TeacherError as e:
        return [CheckResult("teacher", "fail", str(e), fix)]
    clip = load_recording(BENCH_CALL, 16000).agent[: int(TEACHER_CLIP_S * 16000)]
    heard = loaded.transcribe(clip, 16000)
    status = "pass" if loaded.check.recorded else "warn"
    return [CheckResult("teacher", status, f"{loaded.check.describe}; loaded in {loaded.load_s:.1f} s; "
                        f"{heard.cpu_s / heard.audio_s:.2f} CPU-s per audio-s on {heard.audio_s:.0f} s of the bench call "
                        f"(one 30 s window), {len(heard.segments)} segment(s) heard",
                        "" if loaded.check.recorded else f"record its sha256: cd {folder} && sha256sum model.bin > SHA256SUMS"),
            red_check(cfg, clip)]


def red_check(cfg: Config, speech: np.ndarray) -> CheckResult:
    """Whether red alerts wait for the teacher (alerts.teacher_confirms_red), and how long one
    check takes here, on a check's clip of `speech` (16 kHz) with the teacher as the check loads it."""
    if not cfg.alerts.teacher_confirms_red:
        return CheckResult("red check", "skip", "off (alerts.teacher_confirms_red unset): red alerts go out as soon as heard")
    from edge.redcheck import AFTER_S, BEFORE_S, RedCheck

    check = RedCheck.from_config(cfg)  # the teacher loaded above: this one loads too
    clip = speech[: int((BEFORE_S + 1.0 + AFTER_S) * 16000)]
    heard = check.hear(clip, 16000, "神经病")
    slow = heard.teacher_s >= cfg.alerts.teacher_timeout_s
    return CheckResult("red check", "warn" if slow else "pass",
                       f"on: a red alert waits for the teacher, at most {cfg.alerts.teacher_timeout_s:g} s; one check "
                       f"took {heard.teacher_s:.2f} s, {heard.cpu_s:.2f} CPU-s, on a {len(clip) / 16000:.0f} s clip",
                       "a check this slow lets every red through unconfirmed: raise alerts.teacher_timeout_s "
                       "or turn the check off" if slow else "")


def audio_devices(cfg: Config, wav: Path | None = None) -> list[CheckResult]:
    results = []
    for line in cfg.lines:
        need = 1 + max(line.channels.agent, line.channels.customer or 0)
        name = f"audio {line.name}"
        if wav is not None or line.source != "capture":
            source = wav or line.path
            try:
                tap = LineSources.of(cfg).raw(line, wav)
            except TapError as e:
                results.append(CheckResult(name, "fail", str(e), f"point lines.path of {line.name!r} at a WAV recording"))
                continue
            ok = tap.channels >= need
            results.append(CheckResult(
                name, "pass" if ok else "fail", f"{source}: {tap.channels} channel(s), the map needs {need}",
                "" if ok else f"fix [lines.channels] of {line.name!r} or use a recording with both sides"))
            continue
        try:
            device = SoundDevice(line.device)
        except SourceError as e:
            try:
                seen = ", ".join(f"{d.index}: {d.name}" for d in list_input_devices()) or "none"
            except TapError as listing:
                seen = str(listing)
            results.append(CheckResult(
                name, "fail", f"{e} (inputs seen: {seen})",
                "plug the USB audio interface in, or set lines.device to a name from `callqa devices`; "
                "run doctor as the callqa user (it must be in the 'audio' group)"))
            continue
        try:
            check_taps(device, [LineTap(line.name, line.channels)])
        except SourceError as e:
            results.append(CheckResult(name, "fail", str(e), f"correct [lines.channels] of {line.name!r}, "
                                       "or use an interface with enough input channels"))
            continue
        results.append(CheckResult(name, "pass", f"{device.name!r}, {device.max_input_channels} input channels"))
    return results


def levels(cfg: Config, seconds: float, wav: Path | None = None) -> list[CheckResult]:
    results = []
    for line in cfg.lines:
        name = f"levels {line.name}"
        roles = channel_roles(line)
        try:
            tap = LineSources.of(cfg).raw(line, wav)
            meter = LevelMeter(tap.sample_rate, roles, cfg.vad.aggressiveness)
            try:
                block = tap.sample_rate // 10
                while meter.seconds < seconds and (data := tap.read(block)) is not None:
                    meter.add(data)
            finally:
                tap.close()
        except TapError as e:
            results.append(CheckResult(name, "fail", str(e), "see the audio check above"))
            continue
        mapped = [lv for lv in meter.overall if lv.role is not None]
        words = "; ".join(f"{lv.role} ch{lv.channel}: RMS {lv.rms_dbfs:.0f} dBFS, speech {100 * lv.speech_fraction:.0f} %"
                          for lv in mapped)
        bad = [f"{lv.role} ch{lv.channel}: {w}" for lv in mapped for w in lv.warnings()
               if lv.dead or lv.clipping]
        if bad:
            results.append(CheckResult(name, "fail", "; ".join(bad), f"watch `callqa levels --line {line.name}` while fixing"))
        elif all(lv.silent for lv in mapped):
            results.append(CheckResult(name, "warn", f"silent for {meter.seconds:.0f} s ({words})",
                                       f"fine if no call is on; else run `callqa levels --line {line.name}` during a call"))
        else:
            results.append(CheckResult(name, "pass", f"{meter.seconds:.0f} s: {words}"))
    return results


def clock() -> list[CheckResult]:
    synced, how = clock_synchronised()
    fix = "enable time sync: `timedatectl set-ntp true` (or install chrony) and let the box reach an NTP server"
    if synced is None:
        return [CheckResult("clock", "warn", "cannot tell whether the clock is synchronised", fix)]
    return [CheckResult("clock", "pass" if synced else "fail",
                        f"{'synchronised' if synced else 'NOT synchronised'} ({how})", "" if synced else fix)]


def outbox(cfg: Config) -> list[CheckResult]:
    path = cfg.outbox.path or cfg.box.state_dir / "outbox.sqlite"
    folder = path.parent
    fix = (f"create {folder} writable by the callqa user (the service's StateDirectory=callqa does this "
           "for /var/lib/callqa), or set outbox.path")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except FileNotFoundError:
        return [CheckResult("outbox", "fail", f"{folder} does not exist", fix)]
    except OSError as e:
        return [CheckResult("outbox", "fail", f"{folder} not writable: {e.strerror}", fix)]
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < cfg.ops.min_free_mb:
        return [CheckResult("outbox", "fail", f"{folder}: only {free_mb:.0f} MB free (needs {cfg.ops.min_free_mb} MB)",
                            "free disk space (journalctl --vacuum-size=100M, old logs) or use a larger SD card")]
    return [CheckResult("outbox", "pass", f"{path} writable, {free_mb:.0f} MB free")]


def broker(cfg: Config) -> list[CheckResult]:
    if not cfg.mqtt.enabled:
        return [CheckResult("broker", "skip", "mqtt.enabled = false: scores stay on this box")]
    from edge.ops.broker_probe import box_topics, doctor_topic, probe

    try:
        result = probe(cfg)
    except ConfigError as e:
        return [CheckResult("broker", "fail", str(e), "correct the [mqtt] key named")]
    if not result.connected:
        return [CheckResult("broker", "fail", result.connect_detail,
                            "check mqtt.url (host, port, mqtts:// for TLS), the firewall, mqtt.ca_file for TLS, "
                            "and mqtt.username / mqtt.password_file")]
    rows = [CheckResult("broker", "pass", result.connect_detail)]
    if result.topics_ok:
        rows.append(CheckResult("topics", "pass", result.topics_detail))
    else:
        t = box_topics(cfg)
        rows.append(CheckResult("topics", "fail", result.topics_detail,
                                f"the broker's ACL must let {cfg.mqtt.username or 'this client'} readwrite {doctor_topic(cfg)}, "
                                f"write {t.box_root}/status, /light, /score/+, /alert/+ and read {t.call_events} and "
                                f"{t.ack} (scripts/mosquitto/callqa.acl)"))
    return rows


def guarded(name: str, check: Callable[[], list[CheckResult]]) -> list[CheckResult]:
    """Run one check; an unexpected error becomes a failed row, never a traceback."""
    try:
        return check()
    except ConfigError as e:
        return [CheckResult(name, "fail", str(e), "correct the key named")]
    except Exception as e:  # the doctor must finish its table whatever one check hits
        return [CheckResult(name, "fail", f"{type(e).__name__}: {e}", "report this with `callqa -v doctor` output")]
