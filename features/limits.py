"""Input limits checked before expensive work (decoding, resampling, tokenising): the one home of their defaults.

Two kinds: bounds on one input, and budgets over all inputs of one request (a request of 64 images
at the per-input limit would otherwise decode 64 times as much). The gateway's settings
(``service.settings.RequestLimits``) extend this class, so the defaults are stated once, here.
"""

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class InputLimits(BaseModel):
    """Upper bounds on one raw input and on all inputs of one request; the gateway fills them from its settings."""

    model_config = ConfigDict(frozen=True)

    max_image_pixels: int = Field(default=40_000_000, gt=0, description="Width x height of a decoded image.")
    max_audio_seconds: float = Field(default=30.0, gt=0, description="Duration of one recording.")
    max_text_chars: int = Field(default=100_000, gt=0, description="Characters of one text.")
    max_rle_bmp_pixels: int = Field(
        default=262_144,
        gt=0,
        description="Width x height of a run-length-encoded BMP (RLE4/RLE8, also inside an ICO). Pillow decodes"
        " RLE in Python at about 0.25 us per pixel whatever the file size, so a 25 KB file can cost seconds;"
        " the default (512 x 512) bounds one to about 0.1 s.",
    )
    max_request_image_pixels: int = Field(
        default=64_000_000,
        gt=0,
        description="Decoded pixels of all images of one request together (at least max_image_pixels).",
    )
    max_request_audio_samples: int = Field(
        default=16_000_000,
        gt=0,
        description="Decoded samples (frames x channels) of all recordings of one request together, as their"
        " headers state them (at least one recording of max_audio_seconds at 48 kHz in stereo: 2,880,000).",
    )
    max_request_text_chars: int = Field(
        default=1_000_000,
        gt=0,
        description="Characters of all texts of one request together (at least max_text_chars).",
    )

    @model_validator(mode="after")
    def _budgets_hold_one_input(self) -> Self:
        # A request budget below the per-input limit would make a single input's limit a lie.
        if self.max_request_image_pixels < self.max_image_pixels:
            raise ValueError("max_request_image_pixels must be at least max_image_pixels")
        if self.max_request_text_chars < self.max_text_chars:
            raise ValueError("max_request_text_chars must be at least max_text_chars")
        if self.max_request_audio_samples < self.max_audio_seconds * 48_000 * 2:
            raise ValueError("max_request_audio_samples must hold max_audio_seconds of 48 kHz stereo")
        return self
