"""Audio features: a WAV file -> ``float32`` log-mel spectrogram of shape ``(spec.n_frames, spec.n_mels)``.

The pipeline, identical at training and serving time:

1. Open with libsndfile: WAV with PCM 8/16/24/32-bit or float samples and any number of
   channels (and whatever else libsndfile reads, such as FLAC). The sample rate must be within
   :data:`MIN_SAMPLE_RATE` .. :data:`MAX_SAMPLE_RATE`. A header announcing more than
   ``limits.max_audio_seconds`` is refused before decoding, and the read itself is capped, so a
   lying header cannot get more decoded either.
2. Decode to float in [-1, 1] block by block, mixing the channels down by their mean as it
   goes (memory holds one block of all channels, never the whole multi-channel recording).
   Float samples outside [-1, 1] are clipped, NaN becomes 0.
3. Resample to ``spec.sample_rate`` with a polyphase filter (``scipy.signal.resample_poly``,
   factors reduced by their gcd; a ratio needing factors above 1024 is approximated to 1024).
4. Keep ``spec.clip_samples``: the first ones (``align="start"``) or the window with the most
   energy (``align="loudest"``; a sound shorter than the clip is centred in it). Shorter
   recordings are padded with silence at the end.
5. Log-mel: frames of ``frame_length`` every ``hop_length`` samples without edge padding, a
   periodic Hann window, the power spectrum ``|rfft|^2`` (FFT size = ``frame_length``, no
   scaling), triangular filters on the **HTK mel scale** ``2595 log10(1 + f / 700)`` between
   ``fmin`` and ``fmax`` with peak 1 (no area normalisation, as in TensorFlow's
   ``linear_to_mel_weight_matrix`` and Kaldi), then the natural ``log(mel + log_floor)``.
"""

from __future__ import annotations

import io
import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import soundfile

from features._decoding import as_bytes, decoder_errors
from features.errors import InputTooLarge, UndecodableInput
from features.limits import InputLimits
from features.spec import AudioFeatures

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000
#: Largest up or down factor of the polyphase resampler; its filter grows with the factors.
MAX_RESAMPLE_FACTOR = 1024
#: Windows within this relative distance of the loudest count as equally loud.
_LOUDEST_TOLERANCE = 1e-6
_UNREADABLE = "not a readable WAV file"
#: Samples (frames x channels) decoded at a time: 1.4 s of mono at 48 kHz, 256 KB of float32.
_BLOCK_SAMPLES = 65_536

Floats = npt.NDArray[np.float32]


def preprocess_audio(data: bytes, spec: AudioFeatures, limits: InputLimits | None = None) -> Floats:
    """Decode a recording and turn it into the model input for ``spec``.

    Args:
        data: The file's bytes.
        spec: The audio feature spec of the model version.
        limits: Bounds on the input; the defaults of :class:`InputLimits` when omitted.

    Returns:
        A new ``float32`` array of shape ``spec.input_shape`` = ``(n_frames, n_mels)``.

    Raises:
        UndecodableInput: ``data`` is not bytes, not a readable recording, has no samples,
            or its sample rate is out of range.
        InputTooLarge: the recording is longer than ``limits.max_audio_seconds``.
    """
    return log_mel(fit_clip(waveform_from_wav(data, spec, limits), spec), spec)


def waveform_from_wav(data: bytes, spec: AudioFeatures, limits: InputLimits | None = None) -> Floats:
    """Steps 1 to 3: the whole recording as mono ``float32`` at ``spec.sample_rate``."""
    payload = as_bytes(data, "audio")
    limits = limits or InputLimits()
    with decoder_errors(_UNREADABLE), soundfile.SoundFile(io.BytesIO(payload)) as sound:
        rate = sound.samplerate
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise UndecodableInput(f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
        _check_header(sound, limits)
        mono = _read_mono(sound, cap=math.floor(limits.max_audio_seconds * rate), limits=limits)
    if not np.isfinite(mono).all():
        mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
    # Float WAVs may hold any value (1e30 overflowed the power spectrum to inf); PCM is already inside.
    np.clip(mono, -1.0, 1.0, out=mono)
    return resample(mono, rate, spec.sample_rate)


def measure_audio(data: bytes, limits: InputLimits | None = None) -> int:
    """Samples (frames x channels) the header states, without decoding; 0 if unreadable.

    The header is an upper bound: decoding never reads more frames than it states. Raises
    InputTooLarge as :func:`waveform_from_wav` would.
    """
    payload = as_bytes(data, "audio")
    limits = limits or InputLimits()
    try:
        with soundfile.SoundFile(io.BytesIO(payload)) as sound:
            if not MIN_SAMPLE_RATE <= sound.samplerate <= MAX_SAMPLE_RATE:
                return 0
            _check_header(sound, limits)
            return int(sound.frames) * int(sound.channels)
    except InputTooLarge:
        raise
    except Exception:  # unreadable: preprocessing refuses it with the input's index
        return 0


def resample(waveform: npt.ArrayLike, source_rate: int, target_rate: int) -> Floats:
    """Resample mono audio from ``source_rate`` to ``target_rate`` (polyphase, anti-aliased)."""
    samples = np.asarray(waveform, dtype=np.float32)
    if source_rate == target_rate:
        return samples
    # Imported here, not at the top: scipy.signal costs a process about 50 MiB, and a gateway in front of
    # TF Serving whose models never need resampling should not hold it (a later import is a dict lookup).
    import scipy.signal

    up, down = _resample_factors(source_rate, target_rate)
    resampled = scipy.signal.resample_poly(samples, up, down)
    return np.asarray(resampled, dtype=np.float32)


def fit_clip(waveform: npt.ArrayLike, spec: AudioFeatures) -> Floats:
    """Step 4: exactly ``spec.clip_samples`` samples, chosen by ``spec.align``, zero-padded at the end."""
    samples = np.asarray(waveform, dtype=np.float32)
    length = spec.clip_samples
    if len(samples) > length:
        start = 0 if spec.align == "start" else _loudest_start(samples, length)
        return samples[start : start + length].copy()
    clip = np.zeros(length, dtype=np.float32)
    clip[: len(samples)] = samples
    return clip


def log_mel(waveform: npt.ArrayLike, spec: AudioFeatures) -> Floats:
    """Step 5: the log-mel spectrogram of mono audio at ``spec.sample_rate``.

    Gives ``1 + (len(waveform) - frame_length) // hop_length`` frames, which is ``spec.n_frames``
    for a clip of ``spec.clip_samples``; a waveform shorter than one frame is zero-padded to one.
    """
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"log_mel takes mono audio of shape (samples,), not {samples.shape}")
    if len(samples) < spec.frame_length:
        samples = np.pad(samples, (0, spec.frame_length - len(samples)))
    # Lazily, like scipy.signal: only a process that computes a spectrogram holds scipy.fft (about 25 MiB).
    # NumPy's rfft is no substitute: its float32 results differ in the last bits and it is 2x slower.
    import scipy.fft

    frames = np.lib.stride_tricks.sliding_window_view(samples, spec.frame_length)[:: spec.hop_length]
    spectrum = scipy.fft.rfft(frames * _hann(spec.frame_length), axis=1)
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    mel: Floats = power @ mel_filterbank(spec)
    result: Floats = np.log(mel + np.float32(spec.log_floor), dtype=np.float32)
    return result


def mel_filterbank(spec: AudioFeatures) -> Floats:
    """The read-only ``(frame_length // 2 + 1, n_mels)`` matrix from power spectrum to mel bands."""
    return _filterbank(spec.sample_rate, spec.frame_length, spec.n_mels, spec.fmin, spec.fmax)


def hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def _check_header(sound: soundfile.SoundFile, limits: InputLimits) -> None:
    seconds = sound.frames / sound.samplerate
    if seconds > limits.max_audio_seconds:
        raise InputTooLarge(_too_long(seconds, limits))


def _read_mono(sound: soundfile.SoundFile, *, cap: int, limits: InputLimits) -> Floats:
    """Decode block by block, mixing each down at once, so memory never holds every channel.

    Stops past ``cap`` frames whatever the header said. A block holds about :data:`_BLOCK_SAMPLES`
    samples of all channels together: soundfile allocates a block at the size asked for (as far as
    the header's frame count goes) before reading, so with many channels fewer frames are asked.
    """
    blocks: list[Floats] = []
    decoded = 0
    block_frames = max(1, _BLOCK_SAMPLES // max(1, sound.channels))
    while True:
        chunk = sound.read(frames=block_frames, dtype="float32", always_2d=True)
        if len(chunk) == 0:
            break
        decoded += len(chunk)
        if decoded > cap:
            raise InputTooLarge(_too_long(decoded / sound.samplerate, limits))
        blocks.append(chunk[:, 0] if chunk.shape[1] == 1 else chunk.mean(axis=1, dtype=np.float32))
    if not blocks:
        raise UndecodableInput("the recording has no samples")
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _too_long(seconds: float, limits: InputLimits) -> str:
    return f"recording of {seconds:.1f} s is over the limit of {limits.max_audio_seconds:g} s"


def _resample_factors(source_rate: int, target_rate: int) -> tuple[int, int]:
    divisor = math.gcd(source_rate, target_rate)
    up, down = target_rate // divisor, source_rate // divisor
    if max(up, down) > MAX_RESAMPLE_FACTOR:
        ratio = Fraction(target_rate, source_rate).limit_denominator(MAX_RESAMPLE_FACTOR)
        up, down = ratio.numerator, ratio.denominator
    return up, down


def _loudest_start(samples: Floats, length: int) -> int:
    """Start of the ``length``-sample window with the most energy (running sums, no loop)."""
    running = np.concatenate([[0.0], np.cumsum(np.square(samples, dtype=np.float64))])
    energy = running[length:] - running[:-length]
    loudest = float(energy.max())
    candidates = np.flatnonzero(energy >= loudest * (1.0 - _LOUDEST_TOLERANCE))
    # A sound shorter than the clip fits in a run of equally loud windows: take the middle one.
    return int(candidates[len(candidates) // 2])


@lru_cache(maxsize=8)
def _hann(length: int) -> Floats:
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float32)
    window.flags.writeable = False
    return window


@lru_cache(maxsize=16)
def _filterbank(sample_rate: int, frame_length: int, n_mels: int, fmin: float, fmax: float) -> Floats:
    bins = np.fft.rfftfreq(frame_length, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)
    weights.flags.writeable = False
    return weights
