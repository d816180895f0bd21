"""Audio preprocessing: sample formats, channels, rates, clip fitting, log-mel, limits and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from features.audio import (
    fit_clip,
    log_mel,
    mel_filterbank,
    preprocess_audio,
    waveform_from_wav,
)
from features.errors import InputTooLarge, UndecodableInput
from features.limits import InputLimits
from features.spec import AudioFeatures


def _band_of(frequency: float, spec: AudioFeatures) -> int:
    """The mel band whose filter weighs the FFT bin nearest ``frequency`` most."""
    fft_bin = round(frequency * spec.frame_length / spec.sample_rate)
    return int(np.argmax(mel_filterbank(spec)[fft_bin]))


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_preprocess_audio_decodes_every_sample_format(encode_wav, make_tone, audio_spec, subtype):
    samples = make_tone(1000, 16_000, 1.0)
    expected = preprocess_audio(encode_wav(samples, 16_000, "FLOAT"), audio_spec)

    result = preprocess_audio(encode_wav(samples, 16_000, subtype), audio_spec)

    assert result.shape == audio_spec.input_shape == (97, 40)
    assert result.dtype == np.float32
    loud = expected > expected.max() - 20  # bands well above 8-bit quantisation noise
    np.testing.assert_allclose(result[loud], expected[loud], atol=0.05)


@pytest.mark.parametrize("channels", [2, 5])
def test_preprocess_audio_mixes_identical_channels_to_the_same_input(encode_wav, make_tone, audio_spec, channels):
    samples = make_tone(440, 16_000, 1.0)
    mono = preprocess_audio(encode_wav(samples, 16_000, "FLOAT"), audio_spec)

    result = preprocess_audio(encode_wav(np.tile(samples[:, None], channels), 16_000, "FLOAT"), audio_spec)

    np.testing.assert_allclose(result, mono, atol=1e-3)


def test_preprocess_audio_mixes_by_mean(encode_wav, make_tone):
    samples = make_tone(440, 16_000, 1.0)
    stereo = np.stack([samples, np.zeros_like(samples)], axis=1)

    waveform = waveform_from_wav(encode_wav(stereo, 16_000, "FLOAT"), AudioFeatures())

    np.testing.assert_allclose(waveform, samples / 2, atol=1e-6)


def test_waveform_from_wav_long_recording_decoded_across_blocks(encode_wav, make_tone):
    left, right = make_tone(440, 48_000, 3.0), make_tone(2000, 48_000, 3.0, amplitude=0.2)
    spec = AudioFeatures(sample_rate=48_000, fmax=16_000.0)

    waveform = waveform_from_wav(encode_wav(np.stack([left, right], axis=1), 48_000, "FLOAT"), spec)

    assert len(waveform) == 144_000  # several decoding blocks
    np.testing.assert_allclose(waveform, (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 44_100, 48_000])
def test_preprocess_audio_resampled_tone_peaks_in_its_band(encode_wav, make_tone, audio_spec, rate):
    data = encode_wav(make_tone(1000, rate, 1.0), rate)

    waveform = waveform_from_wav(data, audio_spec)
    result = preprocess_audio(data, audio_spec)

    assert abs(len(waveform) - 16_000) <= 1
    assert int(np.argmax(result.mean(axis=0))) == _band_of(1000, audio_spec)


def test_preprocess_audio_tones_land_in_increasing_bands(encode_wav, make_tone, audio_spec):
    peaks = [
        int(np.argmax(preprocess_audio(encode_wav(make_tone(f, 44_100, 1.0), 44_100), audio_spec).mean(axis=0)))
        for f in (300, 1000, 3000, 6000)
    ]

    assert peaks == sorted(peaks)
    assert len(set(peaks)) == 4


def test_preprocess_audio_downsampling_removes_content_above_nyquist(encode_wav, make_tone, audio_spec):
    # 12 kHz is above the 8 kHz Nyquist limit of 16 kHz: it must be filtered out, not folded to 4 kHz.
    result = preprocess_audio(encode_wav(make_tone(12_000, 48_000, 1.0), 48_000), audio_spec)
    reference = preprocess_audio(encode_wav(make_tone(4_000, 16_000, 1.0), 16_000), audio_spec)

    assert result.max() < reference.max() - 8


@pytest.mark.parametrize("rate", [4_000, 96_000])
def test_preprocess_audio_rate_out_of_range_is_undecodable(encode_wav, make_tone, audio_spec, rate):
    with pytest.raises(UndecodableInput, match="sample rate"):
        preprocess_audio(encode_wav(make_tone(440, rate, 0.2), rate), audio_spec)


def test_preprocess_audio_pads_short_recordings_with_silence(encode_wav, make_tone, audio_spec):
    result = preprocess_audio(encode_wav(make_tone(1000, 16_000, 0.3), 16_000, "FLOAT"), audio_spec)

    silence = np.log(np.float32(audio_spec.log_floor))
    assert (result[:20].max(axis=1) > silence + 5).all()
    np.testing.assert_allclose(result[40:], silence, atol=1e-3)


def test_preprocess_audio_start_alignment_keeps_the_beginning(encode_wav, make_tone, audio_spec):
    head = make_tone(500, 16_000, 1.0)
    recording = np.concatenate([head, make_tone(3000, 16_000, 2.0, amplitude=0.9)])

    result = preprocess_audio(encode_wav(recording, 16_000, "FLOAT"), audio_spec)

    np.testing.assert_allclose(result, preprocess_audio(encode_wav(head, 16_000, "FLOAT"), audio_spec), atol=1e-4)


def test_fit_clip_loudest_centres_a_short_sound():
    spec = AudioFeatures(align="loudest")
    recording = np.zeros(64_000, dtype=np.float32)
    recording[40_000:48_000] = 0.5  # half a second of sound, starting 2.5 s in

    clip = fit_clip(recording, spec)

    assert len(clip) == 16_000
    assert np.count_nonzero(clip) == 8_000
    first = int(np.flatnonzero(clip)[0])
    assert abs(first - 4_000) <= 1


def test_fit_clip_loudest_picks_the_loud_part():
    spec = AudioFeatures(align="loudest")
    noise = np.random.default_rng(5).uniform(-1, 1, 64_000).astype(np.float32)
    recording = noise * 0.01
    recording[32_000:48_000] = noise[32_000:48_000] * 0.8  # the loud second, 2 s in

    clip = fit_clip(recording, spec)

    start = int(np.flatnonzero(recording == clip[0])[0])
    assert abs(start - 32_000) <= 2
    assert np.square(clip).sum() > 0.999 * np.square(recording[32_000:48_000]).sum()


def test_fit_clip_start_trims_and_pads(audio_spec):
    ramp = np.arange(20_000, dtype=np.float32)

    np.testing.assert_array_equal(fit_clip(ramp, audio_spec), ramp[:16_000])
    padded = fit_clip(ramp[:100], audio_spec)
    assert len(padded) == 16_000
    assert not padded[100:].any()


def test_log_mel_frame_count_follows_length(audio_spec):
    assert log_mel(np.zeros(16_000), audio_spec).shape == (97, 40)
    assert log_mel(np.zeros(512 + 160 * 3), audio_spec).shape == (4, 40)
    assert log_mel(np.zeros(10), audio_spec).shape == (1, 40)


def test_log_mel_refuses_multichannel(audio_spec):
    with pytest.raises(ValueError, match="mono"):
        log_mel(np.zeros((16_000, 2)), audio_spec)


def test_mel_filterbank_has_no_empty_band(audio_spec):
    bank = mel_filterbank(audio_spec)

    assert bank.shape == (257, 40)
    assert (bank.max(axis=0) > 0.5).all()
    assert not bank.flags.writeable


def test_preprocess_audio_non_finite_samples_become_finite(encode_wav, make_tone, audio_spec):
    samples = make_tone(440, 16_000, 1.0)
    samples[100:200] = np.nan
    samples[300] = np.inf

    result = preprocess_audio(encode_wav(samples, 16_000, "FLOAT"), audio_spec)

    assert np.isfinite(result).all()


def test_preprocess_audio_over_limit_is_too_large(encode_wav, make_tone, audio_spec):
    data = encode_wav(make_tone(440, 8_000, 3.0), 8_000)

    assert preprocess_audio(data, audio_spec, InputLimits(max_audio_seconds=3.0)).shape == (97, 40)
    with pytest.raises(InputTooLarge):
        preprocess_audio(data, audio_spec, InputLimits(max_audio_seconds=2.0))


def test_preprocess_audio_over_limit_refused_before_decoding(encode_wav, make_tone, audio_spec, monkeypatch):
    data = encode_wav(make_tone(440, 8_000, 3.0), 8_000)

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded an over-long recording")

    monkeypatch.setattr(soundfile.SoundFile, "read", must_not_decode)
    with pytest.raises(InputTooLarge):
        preprocess_audio(data, audio_spec, InputLimits(max_audio_seconds=2.0))


def test_preprocess_audio_empty_recording_is_undecodable(encode_wav, audio_spec):
    with pytest.raises(UndecodableInput, match="no samples"):
        preprocess_audio(encode_wav(np.zeros(0), 16_000), audio_spec)


def _garbage_payloads() -> list[object]:
    rng = np.random.default_rng(11)
    return [
        b"",
        b"RIFF",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # header cut short
        b"RIFF\xff\xff\xff\xffWAVE" + rng.integers(0, 256, 200, dtype=np.uint8).tobytes(),
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        "a recording",
        None,
    ]


@pytest.mark.parametrize("payload", _garbage_payloads())
def test_preprocess_audio_garbage_is_undecodable(audio_spec, payload):
    with pytest.raises(UndecodableInput):
        preprocess_audio(payload, audio_spec)


def test_preprocess_audio_truncated_wav_is_decoded_or_refused(encode_wav, make_tone, audio_spec):
    data = encode_wav(make_tone(440, 16_000, 1.0), 16_000)
    for cut in (20, 44, 45, 1000, len(data) // 2):
        try:
            result = preprocess_audio(data[:cut], audio_spec)
        except UndecodableInput:
            continue
        assert result.shape == (97, 40)
        assert np.isfinite(result).all()
