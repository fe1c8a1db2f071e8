"""`callqa devices`: the audio inputs PortAudio sees, to pick lines.device and channel numbers."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from edge.ops.tap import InputDeviceInfo, TapError, list_input_devices


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def render(devices: list[InputDeviceInfo]) -> Table:
    table = Table(title="audio input devices")
    for col in ("index", "name", "input channels", "default rate", "host API"):
        table.add_column(col)
    for d in devices:
        table.add_row(str(d.index), d.name, str(d.max_input_channels), f"{d.default_samplerate:.0f} Hz", d.hostapi)
    return table


def run(args: argparse.Namespace) -> int:
    console = Console()
    try:
        devices = list_input_devices()
    except TapError as e:
        console.print(f"[red]{e}[/]")
        return 1
    if not devices:
        console.print("[red]no audio input devices found[/]: plug in the USB audio interface; `arecord -l` "
                      "should list it; run as a member of the 'audio' group")
        return 1
    console.print(render(devices))
    console.print("Put a device's name (or index) in lines.device and its channels in [lines.channels].")
    return 0
