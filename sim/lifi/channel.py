"""Optical line-of-sight channel from a street lamp to a photodiode receiver (numpy).

Signal path, in the order it is applied:

    transmitted intensity x(t) in 0..1 (chips upsampled to the sample rate)
      -> LED + driver first-order low-pass (cut-off `led_cutoff_hz`)
      -> optical power: led_peak_power_w * x, times the Lambertian LOS gain H(0) from the geometry
      -> + ambient light (night .. daylight) + light of other lamps at 100 Hz and its harmonics
      -> sampled by the receiver's ADC clock (offset in ppm: the capture is resampled)
      -> photocurrent (responsivity), + shot noise (signal + background) + TIA thermal noise
      -> transimpedance to volts, ADC quantisation and clipping -> samples normalised to 0..1.

The Lambertian LOS gain (Kahn & Barry, "Wireless infrared communications", 1997):

    H(0) = (m + 1) A / (2 pi D^2) cos^m(phi) Ts g(psi) cos(psi)    for psi <= FOV, else 0
    m = -ln 2 / ln cos(semi_angle);  g(psi) = n^2 / sin^2(FOV) for a concentrator of index n

The lamp points straight down and the receiver straight up, so phi = psi = atan(offset / height).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ELECTRON_CHARGE_C = 1.602176634e-19
BOLTZMANN_J_PER_K = 1.380649e-23
# Lux to W/m^2 of visible light: daylight carries ~100 lm per optical watt over the visible band.
DAYLIGHT_LM_PER_W = 100.0
AMBIENT_NIGHT_LUX = 1.0
AMBIENT_OVERCAST_LUX = 1_000.0
AMBIENT_DAYLIGHT_LUX = 100_000.0


class ChannelError(ValueError):
    """A channel parameter is outside what the model describes."""


@dataclass(frozen=True)
class Geometry:
    mast_height_m: float = 8.0
    receiver_height_m: float = 1.0
    horizontal_offset_m: float = 0.0
    semi_angle_deg: float = 60.0
    receiver_area_m2: float = 1e-4
    fov_deg: float = 70.0
    filter_gain: float = 1.0
    concentrator_index: float | None = None

    @property
    def distance_m(self) -> float:
        return math.hypot(self.mast_height_m - self.receiver_height_m, self.horizontal_offset_m)

    @property
    def incidence_deg(self) -> float:
        return math.degrees(math.atan2(self.horizontal_offset_m, self.mast_height_m - self.receiver_height_m))

    @property
    def concentrator_gain(self) -> float:
        if self.concentrator_index is None:
            return 1.0
        return self.concentrator_index**2 / math.sin(math.radians(self.fov_deg)) ** 2


def lambertian_order(semi_angle_deg: float) -> float:
    if not 0.0 < semi_angle_deg < 90.0:
        raise ChannelError("semi-angle must be in (0, 90) degrees, got %r" % semi_angle_deg)
    return -math.log(2.0) / math.log(math.cos(math.radians(semi_angle_deg)))


def los_gain(geometry: Geometry) -> float:
    """DC gain H(0) of the line-of-sight path (received / transmitted optical power)."""
    if geometry.mast_height_m <= geometry.receiver_height_m:
        raise ChannelError("the lamp must be above the receiver")
    psi = math.radians(geometry.incidence_deg)
    if psi > math.radians(geometry.fov_deg):
        return 0.0
    m = lambertian_order(geometry.semi_angle_deg)
    d = geometry.distance_m
    return ((m + 1.0) * geometry.receiver_area_m2 / (2.0 * math.pi * d * d) * math.cos(psi) ** m
            * geometry.filter_gain * geometry.concentrator_gain * math.cos(psi))


def ambient_power_w(lux: float, geometry: Geometry, filter_pass_fraction: float = 1.0) -> float:
    """Diffuse ambient light collected by the receiver (lux -> W/m^2 -> watts through filter/concentrator)."""
    return (lux / DAYLIGHT_LM_PER_W) * geometry.receiver_area_m2 * filter_pass_fraction \
        * geometry.filter_gain * geometry.concentrator_gain


def led_lowpass(waveform: np.ndarray, cutoff_hz: float, sample_rate_hz: float) -> np.ndarray:
    """First-order low-pass (impulse invariant: y[n] = a y[n-1] + (1 - a) x[n]), started at x[0]."""
    a = math.exp(-2.0 * math.pi * cutoff_hz / sample_rate_hz)
    if a < 1e-12:
        return waveform.astype(np.float64, copy=True)
    taps = math.ceil(math.log(1e-9) / math.log(a)) + 1
    kernel = (1.0 - a) * a ** np.arange(taps)
    padded = np.concatenate([np.full(taps - 1, waveform[0], dtype=np.float64), waveform])
    if taps <= 256:
        out = np.convolve(padded, kernel, mode="valid")
    else:
        n = len(padded) + taps - 1
        size = 1 << (n - 1).bit_length()
        out = np.fft.irfft(np.fft.rfft(padded, size) * np.fft.rfft(kernel, size), size)[taps - 1:len(padded)]
    return out / kernel.sum()


@dataclass(frozen=True)
class MainsInterference:
    """Light of other lamps flickering at twice the mains frequency, with harmonics.

    `amplitudes_w[k]` is the peak optical amplitude at (k + 1) * fundamental_hz, on top of `mean_w`."""

    mean_w: float = 0.0
    amplitudes_w: tuple[float, ...] = ()
    fundamental_hz: float = 100.0
    phases_rad: tuple[float, ...] = ()

    @classmethod
    def with_ac_power(cls, ac_power_w2: float, harmonics: int = 10, fundamental_hz: float = 100.0,
                      seed: int = 0) -> MainsInterference:
        """Harmonic amplitudes falling as 1/k, scaled so the total AC power (sum a_k^2 / 2) is given."""
        shape = 1.0 / np.arange(1, harmonics + 1)
        scale = math.sqrt(2.0 * ac_power_w2 / float(np.sum(shape**2)))
        amplitudes = scale * shape
        phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, harmonics)
        return cls(mean_w=float(amplitudes.sum()), amplitudes_w=tuple(amplitudes.tolist()),
                   fundamental_hz=fundamental_hz, phases_rad=tuple(phases.tolist()))

    def waveform(self, times_s: np.ndarray) -> np.ndarray:
        out = np.full(times_s.shape, self.mean_w, dtype=np.float64)
        phases = self.phases_rad or (0.0,) * len(self.amplitudes_w)
        for k, (amplitude, phase) in enumerate(zip(self.amplitudes_w, phases), start=1):
            out += amplitude * np.cos(2.0 * np.pi * k * self.fundamental_hz * times_s + phase)
        return out


def resample_clock(waveform: np.ndarray, offset_ppm: float, start: float = 0.0) -> np.ndarray:
    """What an ADC whose clock runs `offset_ppm` fast sees: its sample n is the transmitter's waveform
    at position start + n / (1 + eps).

    The transmitter-side waveform is held between its samples (the LED drive is piecewise constant, and
    the LED low-pass, applied before, is what smooths its edges); `start` (in samples) models an arbitrary
    phase between the two clocks."""
    eps = offset_ppm * 1e-6
    count = int((len(waveform) - start) * (1.0 + eps))
    index = np.floor(start + np.arange(count) / (1.0 + eps)).astype(np.int64)
    return waveform[np.minimum(index, len(waveform) - 1)]


@dataclass(frozen=True)
class Receiver:
    responsivity_a_per_w: float = 0.5
    transimpedance_ohm: float = 20_000.0
    temperature_k: float = 300.0
    adc_bits: int = 12
    adc_full_scale_v: float = 3.3
    clock_offset_ppm: float = 0.0


@dataclass(frozen=True)
class ChannelConfig:
    geometry: Geometry = field(default_factory=Geometry)
    receiver: Receiver = field(default_factory=Receiver)
    led_peak_power_w: float = 20.0
    led_cutoff_hz: float = 2e6
    ambient_lux: float = AMBIENT_NIGHT_LUX
    interference: MainsInterference = field(default_factory=MainsInterference)
    extra_noise_a_rms: float = 0.0


@dataclass(frozen=True)
class Capture:
    """What the receiver's ADC produced, and the figures that explain it."""

    samples: np.ndarray  # float32, ADC codes normalised to 0..1
    sample_rate_hz: float
    clipped_high_fraction: float
    signal_swing_a: float  # photocurrent between "LED off" and "LED at peak"
    noise_rms_a: float


def noise_rms_a(config: ChannelConfig, mean_current_a: float, sample_rate_hz: float) -> float:
    """Shot noise of the mean photocurrent plus TIA thermal noise, over the Nyquist bandwidth."""
    bandwidth = sample_rate_hz / 2.0
    rx = config.receiver
    shot = 2.0 * ELECTRON_CHARGE_C * mean_current_a * bandwidth
    thermal = 4.0 * BOLTZMANN_J_PER_K * rx.temperature_k * bandwidth / rx.transimpedance_ohm
    return math.sqrt(shot + thermal + config.extra_noise_a_rms**2)


def propagate(intensity: np.ndarray, sample_rate_hz: float, config: ChannelConfig,
              rng: np.random.Generator, clock_phase: float = 0.0) -> Capture:
    """Send a transmitted intensity waveform (0..1 at `sample_rate_hz`) through the whole channel."""
    rx = config.receiver
    light = led_lowpass(np.asarray(intensity, dtype=np.float64), config.led_cutoff_hz, sample_rate_hz)
    gain = los_gain(config.geometry)
    received_w = light * (config.led_peak_power_w * gain)
    received_w += ambient_power_w(config.ambient_lux, config.geometry)
    if config.interference.amplitudes_w or config.interference.mean_w:
        received_w += config.interference.waveform(np.arange(len(received_w)) / sample_rate_hz)
    received_w = resample_clock(received_w, rx.clock_offset_ppm, clock_phase)
    current = received_w * rx.responsivity_a_per_w
    noise = noise_rms_a(config, float(current.mean()), sample_rate_hz)
    current += rng.normal(0.0, noise, current.shape)
    levels = (1 << rx.adc_bits) - 1
    codes = np.clip(np.rint(current * rx.transimpedance_ohm / rx.adc_full_scale_v * levels), 0, levels)
    return Capture(
        samples=(codes / levels).astype(np.float32),
        sample_rate_hz=sample_rate_hz * (1.0 + rx.clock_offset_ppm * 1e-6),
        clipped_high_fraction=float(np.mean(codes >= levels)),
        signal_swing_a=config.led_peak_power_w * gain * rx.responsivity_a_per_w,
        noise_rms_a=noise,
    )

