"""The optical medium: the light of simulated luminaires at simulated LiFi receivers (CPython + numpy).

Luminaire boards announce every RMT write (pulse durations, the wall-clock time it starts on the LED,
the dimming duty) and every dimming change in UDP datagrams; receiver boards say hello with their
ambient illuminance (sim/devices/optical.py has the board side and the wire format). Every TICK_S the
medium renders, for each receiver heard from in the last RECEIVER_TIMEOUT_S, the samples of its
photodiode from where the last block ended up to `now - margin`, at the receiver's sample rate, and
sends them in blocks stamped with their wall-clock start. The receiver reads the sample for t - delay
(delay > margin), so the light of a transmission announced up to `margin` after it started is complete.

Per sample the light is, through sim/lifi/channel.py: each lamp's intensity (its duty; during a
transmission the duty on ON chips and dark on OFF chips) through the LED low-pass, times the lamp's
peak optical power and the Lambertian line-of-sight gain of the lamp/receiver geometry, plus the
ambient light the receiver reported (night to daylight) and the 100 Hz (+ harmonics) light of other
lamps, to photocurrent with shot and thermal noise, through the transimpedance to the ADC (12 bits,
clipped), as the codes `machine.ADC.read_u16` returns. Not modelled: a clock offset between lamp and
receiver (both stamp with the host's clock, and the receiver's ADC shim takes consecutive samples of
the stream, as DMA would, however the host schedules it).

Bounds: each lamp keeps at most MAX_TRANSMISSIONS transmissions not yet rendered everywhere; past it
the oldest is dropped and counted (`evicted`). A transmission announced after part of it was rendered
is counted `late` (that part is missing); sequence gaps in a lamp's datagrams are counted `lost`.

    python -m sim.lifi.medium CONFIG.json [--stats STATS.json]

prints the UDP port it listens on (first line of stdout), then runs until SIGTERM/SIGINT, rewriting
the stats file (atomically) every second. CONFIG: {"host": "127.0.0.1", "port": 0, "seed": 1,
"margin_ms": 120, "lamps": [LampSpec fields], "receivers": [ReceiverSpec fields]}.
Time: the host's wall clock, or the run's simulated clock when RVB_TIME_ACCEL / RVB_TIME_ORIGIN are set
as for the boards (sim/shims/time.py); the light is then rendered in simulated time, and the CPU it
takes grows with the acceleration (the fleet runner wires LiFi at x1 only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import signal
import socket
import struct
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sim.devices import optical as wire
from sim.lifi import channel

TICK_S = 0.02
RECEIVER_TIMEOUT_S = 5.0
MAX_TRANSMISSIONS = 64
MAX_BEHIND_S = 1.0        # a receiver's stream further behind than this restarts at the margin
DEFAULT_MARGIN_MS = 120
ADC_LEVELS = 4095


@dataclass(frozen=True)
class LampSpec:
    id: str
    x_m: float
    y_m: float = 0.0
    mast_height_m: float = 8.0
    semi_angle_deg: float = 60.0
    peak_power_w: float = 20.0
    led_cutoff_hz: float = 2e6


@dataclass(frozen=True)
class ReceiverSpec:
    id: str
    x_m: float
    y_m: float = 0.0
    height_m: float = 1.0
    sample_rate_hz: float = 16000.0
    area_m2: float = 1e-4
    fov_deg: float = 70.0
    transimpedance_ohm: float = 100_000.0
    mains_lux: float = 0.5     # light of other (non-LiFi) lamps, flickering at 100 Hz
    # Stream rate = oversample x the receiver's sampling rate (the board's ADC takes every
    # oversample-th stream sample).
    oversample: int = 1


def gain(lamp: LampSpec, rx: ReceiverSpec) -> float:
    """Lambertian LOS DC gain of lamp -> receiver (0 outside the receiver's field of view)."""
    return channel.los_gain(_geometry(lamp, rx))


def _geometry(lamp: LampSpec, rx: ReceiverSpec) -> channel.Geometry:
    return channel.Geometry(mast_height_m=lamp.mast_height_m, receiver_height_m=rx.height_m,
                            horizontal_offset_m=math.hypot(lamp.x_m - rx.x_m, lamp.y_m - rx.y_m),
                            semi_angle_deg=lamp.semi_angle_deg, receiver_area_m2=rx.area_m2, fov_deg=rx.fov_deg)


@dataclass
class Transmission:
    start_ns: int
    tick_hz: int
    level: int                 # of the first pulse
    duty: float                # 0..1
    durations: np.ndarray      # ticks
    end_ns: int = 0

    def __post_init__(self) -> None:
        self.end_ns = self.start_ns + int(self.durations.sum()) * 1_000_000_000 // self.tick_hz


def lamp_intensity(times_rel_s: np.ndarray, t0_ns: int, steady_duty: float,
                   transmissions: list[Transmission]) -> np.ndarray:
    """The lamp's drive 0..1 at `t0_ns + times_rel_s`: `steady_duty`, or during a transmission its duty
    on ON pulses and 0 on OFF pulses."""
    out = np.full(times_rel_s.shape, steady_duty, dtype=np.float64)
    if not len(times_rel_s):
        return out
    span_end_ns = t0_ns + int(times_rel_s[-1] * 1e9) + 1
    for tx in transmissions:
        if tx.end_ns <= t0_ns or tx.start_ns >= span_end_ns:
            continue
        start = (tx.start_ns - t0_ns) / 1e9
        edges = start + np.cumsum(tx.durations, dtype=np.float64) / tx.tick_hz
        lo = np.searchsorted(times_rel_s, start, side="left")
        hi = np.searchsorted(times_rel_s, edges[-1], side="left")
        if hi <= lo:
            continue
        pulse = np.searchsorted(edges, times_rel_s[lo:hi], side="right")
        out[lo:hi] = tx.duty * ((pulse & 1) ^ tx.level)
    return out


@dataclass
class LampState:
    spec: LampSpec
    duty: float = 0.0
    seq: int | None = None
    transmissions: deque = field(default_factory=deque)
    datagrams: int = 0
    lost: int = 0
    late: int = 0
    evicted: int = 0


@dataclass
class ReceiverState:
    spec: ReceiverSpec
    config: channel.ChannelConfig
    gains: dict[str, float]
    addr: tuple | None = None
    lux: float = channel.AMBIENT_NIGHT_LUX
    seen: float = 0.0
    origin_ns: int = 0
    next_index: int = 0
    seq: int = 0
    blocks: int = 0
    samples: int = 0
    skipped: int = 0
    hellos: int = 0
    reported: dict = field(default_factory=dict)

    @property
    def stream_rate_hz(self) -> int:
        return int(self.spec.sample_rate_hz * self.spec.oversample)

    def time_ns(self, index: int) -> int:
        return self.origin_ns + index * 1_000_000_000 // self.stream_rate_hz


def render(rx: ReceiverState, lamps: dict[str, LampState], t0_ns: int, count: int,
           rng: np.random.Generator) -> np.ndarray:
    """ADC codes (read_u16 scale, uint16) of `count` samples of `rx` from `t0_ns`."""
    rate = rx.stream_rate_hz
    cfg = rx.config
    times = np.arange(count) / rate
    received_w = np.full(count, channel.ambient_power_w(rx.lux, cfg.geometry))
    for lamp_id, g in rx.gains.items():
        lamp = lamps[lamp_id]
        if g <= 0.0:
            continue
        x = lamp_intensity(times, t0_ns, lamp.duty, list(lamp.transmissions))
        light = channel.led_lowpass(x, lamp.spec.led_cutoff_hz, rate)
        received_w += light * (lamp.spec.peak_power_w * g)
    if cfg.interference.amplitudes_w:
        # Whole seconds hold whole 100 Hz cycles: the phase runs on across blocks.
        received_w += cfg.interference.waveform((t0_ns % 1_000_000_000) / 1e9 + times)
    current = received_w * cfg.receiver.responsivity_a_per_w
    # Noise over the bandwidth the receiver samples, not the stream's.
    current += rng.normal(0.0, channel.noise_rms_a(cfg, float(current.mean()), rx.spec.sample_rate_hz), count)
    codes = np.clip(np.rint(current * cfg.receiver.transimpedance_ohm / cfg.receiver.adc_full_scale_v
                            * ADC_LEVELS), 0, ADC_LEVELS).astype(np.uint32)
    return ((codes << 4) | (codes >> 8)).astype(np.uint16)  # 12-bit codes on read_u16's 16-bit scale


def parse_tx(data: bytes) -> tuple[str, bytes, int, int, int, float, int, np.ndarray]:
    """-> (lamp id, kind, seq, start_ns, tick_hz, duty 0..1, first level, durations) of a luminaire's
    datagram; raises ValueError on anything else."""
    if len(data) < wire.TX_HEAD_SIZE:
        raise ValueError("short datagram")
    kind, seq, start_ns, tick_hz, duty, level, idlen = struct.unpack_from(wire.TX_HEAD, data, 0)
    body = data[wire.TX_HEAD_SIZE + idlen:]
    if kind not in (wire.PULSES, wire.LEVEL) or len(body) % 2 or (kind == wire.PULSES and tick_hz <= 0):
        raise ValueError("not a luminaire datagram")
    lamp_id = data[wire.TX_HEAD_SIZE:wire.TX_HEAD_SIZE + idlen].decode()
    durations = np.frombuffer(body, dtype="<u2").astype(np.int64)
    return lamp_id, kind, seq, start_ns, tick_hz, duty / 65535, level & 1, durations


def parse_hello(data: bytes) -> tuple[str, float, dict]:
    """-> (receiver id, ambient lux, the receiver's counters) of a hello datagram."""
    if len(data) < wire.HELLO_SIZE or data[:4] != wire.HELLO:
        raise ValueError("not a hello")
    lux, blocks, gaps, misses, bursts, idlen = struct.unpack_from(wire.HELLO_BODY, data, 4)
    counters = {"blocks_read": blocks, "gaps": gaps, "misses": misses, "bursts": bursts}
    return data[wire.HELLO_SIZE:wire.HELLO_SIZE + idlen].decode(), float(lux), counters


def pack_samples(seq: int, start_ns: int, rate_hz: float, codes: np.ndarray) -> bytes:
    head = struct.pack(wire.RX_HEAD, wire.SAMPLES, seq & 0xFFFFFFFF, round(start_ns / 1000), int(rate_hz),
                       len(codes))
    return head + codes.astype("<u2").tobytes()


class OpticalMedium:
    def __init__(self, lamps: list[LampSpec], receivers: list[ReceiverSpec], host: str = "127.0.0.1",
                 port: int = 0, seed: int = 1, margin_ms: float = DEFAULT_MARGIN_MS, accel: float = 1.0,
                 origin_s: float | None = None):
        """`accel`/`origin_s`: the run's simulated clock (sim/shims/time.py), which the boards stamp and
        read the light with; the margin is real time, so it covers that much more simulated time."""
        self.accel = accel
        self._origin_ns = time.time_ns() if origin_s is None else int(origin_s * 1e9)
        self.lamps = {spec.id: LampState(spec) for spec in lamps}
        self.receivers = {spec.id: _receiver_state(spec, lamps, seed) for spec in receivers}
        self.margin_ns = int(margin_ms * 1e6 * accel)
        self.rng = np.random.default_rng(seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.counts = {"datagrams": 0, "bad": 0, "unknown": 0, "send_errors": 0}
        self._started = time.monotonic()
        self._cpu0 = time.process_time()

    # -- input -------------------------------------------------------------------------------------------
    def receive(self, now_ns: int) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionError:  # the ICMP answer to a block sent to a receiver that is gone
                self.counts["send_errors"] += 1
                continue
            self.counts["datagrams"] += 1
            try:
                if data[:4] == wire.HELLO:
                    self._hello(data, addr, now_ns)
                else:
                    self._tx(data)
            except ValueError:
                self.counts["bad"] += 1

    def _hello(self, data: bytes, addr: tuple, now_ns: int) -> None:
        rx_id, lux, counters = parse_hello(data)
        rx = self.receivers.get(rx_id)
        if rx is None:
            self.counts["unknown"] += 1
            return
        if rx.addr != addr or now_ns / 1e9 - rx.seen > RECEIVER_TIMEOUT_S * self.accel:
            rx.origin_ns = now_ns - self.margin_ns  # a new (or restarted) receiver: stream from here
            rx.next_index = 0
        rx.addr = addr
        rx.lux = lux if math.isfinite(lux) and lux >= 0 else rx.lux
        rx.seen = now_ns / 1e9
        rx.hellos += 1
        rx.reported = counters

    def _tx(self, data: bytes) -> None:
        lamp_id, kind, seq, start_ns, tick_hz, duty, level, durations = parse_tx(data)
        lamp = self.lamps.get(lamp_id)
        if lamp is None:
            self.counts["unknown"] += 1
            return
        lamp.datagrams += 1
        if lamp.seq is not None and seq != (lamp.seq + 1) & 0xFFFFFFFF and seq > lamp.seq:
            lamp.lost += seq - lamp.seq - 1
        lamp.seq = seq
        if kind == wire.LEVEL:
            lamp.duty = duty
            return
        if not len(durations):
            return
        lamp.duty = duty
        if any(rx.addr is not None and rx.gains.get(lamp_id, 0) > 0 and rx.time_ns(rx.next_index) > start_ns
               for rx in self.receivers.values()):
            lamp.late += 1
        lamp.transmissions.append(Transmission(start_ns, tick_hz, level, duty, durations))
        while len(lamp.transmissions) > MAX_TRANSMISSIONS:
            lamp.transmissions.popleft()
            lamp.evicted += 1

    # -- output ------------------------------------------------------------------------------------------
    def render_due(self, now_ns: int) -> None:
        until_ns = now_ns - self.margin_ns
        now_s = now_ns / 1e9
        for rx in self.receivers.values():
            if rx.addr is None or now_s - rx.seen > RECEIVER_TIMEOUT_S * self.accel:
                continue
            rate = rx.stream_rate_hz
            # Whole blocks only: MicroPython's socket.readinto fills its buffer from as many datagrams as
            # it takes, so every datagram has the receiver's buffer size.
            end_index = (until_ns - rx.origin_ns) * rate // 1_000_000_000 // wire.MAX_SAMPLES * wire.MAX_SAMPLES
            if end_index - rx.next_index > MAX_BEHIND_S * self.accel * rate:
                skip = end_index - rx.next_index - wire.MAX_SAMPLES
                rx.skipped += skip
                rx.next_index += skip
            if end_index <= rx.next_index:
                continue
            t0 = rx.time_ns(rx.next_index)
            codes = render(rx, self.lamps, t0, end_index - rx.next_index, self.rng)
            for first in range(0, len(codes), wire.MAX_SAMPLES):
                rx.seq += 1
                try:
                    self.sock.sendto(pack_samples(rx.seq, rx.time_ns(rx.next_index + first), rate,
                                                  codes[first:first + wire.MAX_SAMPLES]), rx.addr)
                except OSError:
                    self.counts["send_errors"] += 1
                rx.blocks += 1
            rx.samples += len(codes)
            rx.next_index = end_index
        self._forget(now_ns)

    def _forget(self, now_ns: int) -> None:
        """Drop transmissions every live receiver has been rendered past."""
        live = [rx.time_ns(rx.next_index) for rx in self.receivers.values() if rx.addr is not None]
        horizon = min(live) if live else now_ns - self.margin_ns
        for lamp in self.lamps.values():
            while lamp.transmissions and lamp.transmissions[0].end_ns < horizon:
                lamp.transmissions.popleft()

    def clock_ns(self) -> int:
        real = time.time_ns()
        if self.accel == 1.0:
            return real
        return self._origin_ns + int((real - self._origin_ns) * self.accel)

    def step(self, now_ns: int | None = None) -> None:
        now_ns = self.clock_ns() if now_ns is None else now_ns
        self.receive(now_ns)
        self.render_due(now_ns)

    def serve(self, stop, stats_path: Path | None = None) -> None:
        """Run until `stop()` is true."""
        next_stats = 0.0
        while not stop():
            select.select([self.sock], [], [], TICK_S)
            self.step()
            if stats_path is not None and time.monotonic() >= next_stats:
                next_stats = time.monotonic() + 1.0
                write_json(stats_path, self.stats())

    def stats(self) -> dict:
        return {
            "port": self.port,
            "wall_s": round(time.monotonic() - self._started, 3),
            "cpu_s": round(time.process_time() - self._cpu0, 3),
            **self.counts,
            "lamps": {k: {"datagrams": s.datagrams, "lost": s.lost, "late": s.late, "evicted": s.evicted,
                          "duty": round(s.duty, 3)} for k, s in self.lamps.items()},
            "receivers": {k: {"hellos": s.hellos, "blocks": s.blocks, "samples": s.samples, "skipped": s.skipped,
                              "lux": round(s.lux, 2), "board": s.reported,
                              "gains": {lamp: g for lamp, g in s.gains.items() if g > 0}}
                          for k, s in self.receivers.items()},
        }

    def close(self) -> None:
        self.sock.close()


def _receiver_state(spec: ReceiverSpec, lamps: list[LampSpec], seed: int) -> ReceiverState:
    gains = {lamp.id: gain(lamp, spec) for lamp in lamps}
    geometry = channel.Geometry(receiver_area_m2=spec.area_m2, fov_deg=spec.fov_deg)
    mains_w = channel.ambient_power_w(spec.mains_lux, geometry)
    interference = (channel.MainsInterference.with_ac_power(mains_w**2 / 2, harmonics=5, seed=seed)
                    if mains_w > 0 else channel.MainsInterference())
    config = channel.ChannelConfig(geometry=geometry,
                                   receiver=channel.Receiver(transimpedance_ohm=spec.transimpedance_ohm),
                                   interference=interference)
    return ReceiverState(spec, config, gains)


def write_json(path: Path, content: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content))
    tmp.replace(path)


def from_config(config: dict, env: dict | None = None) -> OpticalMedium:
    """The medium of a CONFIG document, on the simulated clock the boards' environment sets
    (RVB_TIME_ACCEL, RVB_TIME_ORIGIN), if any."""
    env = os.environ if env is None else env
    accel = float(env.get("RVB_TIME_ACCEL") or 1.0)
    origin = env.get("RVB_TIME_ORIGIN")
    return OpticalMedium([LampSpec(**lamp) for lamp in config.get("lamps", [])],
                         [ReceiverSpec(**rx) for rx in config.get("receivers", [])],
                         host=config.get("host", "127.0.0.1"), port=int(config.get("port", 0)),
                         seed=int(config.get("seed", 1)), margin_ms=float(config.get("margin_ms", DEFAULT_MARGIN_MS)),
                         accel=accel, origin_s=float(origin) if origin else None)


def config_of(lamps: list[LampSpec], receivers: list[ReceiverSpec], **settings) -> dict:
    return {"lamps": [asdict(lamp) for lamp in lamps], "receivers": [asdict(rx) for rx in receivers], **settings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.lifi.medium", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--stats", type=Path)
    args = parser.parse_args(argv)
    medium = from_config(json.loads(args.config.read_text()))
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    print(medium.port, flush=True)
    try:
        medium.serve(lambda: bool(stopping), args.stats)
    finally:
        if args.stats is not None:
            write_json(args.stats, medium.stats())
        medium.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
