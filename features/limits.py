"""Input limits checked before expensive work (decoding, resampling, tokenising)."""

from pydantic import BaseModel, ConfigDict, Field


class InputLimits(BaseModel):
    """Upper bounds on one raw input; the gateway fills them from its settings."""

    model_config = ConfigDict(frozen=True)

    max_image_pixels: int = Field(default=40_000_000, gt=0, description="Width x height of a decoded image.")
    max_audio_seconds: float = Field(default=30.0, gt=0, description="Duration of one recording.")
    max_text_chars: int = Field(default=100_000, gt=0, description="Characters of one text.")
