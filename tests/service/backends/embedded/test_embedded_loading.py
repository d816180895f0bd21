"""Loading one real version: spec checks, warm-up, and the fast signature call path."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from embedded_support import DirectModel

from features.contract import read_spec
from features.spec import ModelSpec, TextFeatures
from service.backends.embedded.loaded_version import VersionLoadError, load_version, warmup_batches
from service.errors import InvalidInput


@pytest.mark.parametrize("key", ["image-1", "text-1", "audio-1"])
def test_load_version_reads_the_spec_and_uses_the_fast_path(
    key: str, tiny_versions: dict[str, Path], direct_models: dict[str, DirectModel]
) -> None:
    path = tiny_versions[key]
    spec_file = read_spec(path)

    loaded = load_version(spec_file.name, 1, path, max_batch_size=8)

    assert loaded.spec == spec_file
    assert loaded.call.path == "fast"
    features = loaded.spec.features
    rng = np.random.default_rng(7)
    high = len(features.vocabulary) if isinstance(features, TextFeatures) else 255
    batch = rng.integers(0, high, size=(5, *features.input_shape)).astype(features.input_dtype)
    probabilities = loaded.call(batch)
    assert probabilities.shape == (5, len(loaded.spec.labels))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probabilities, loaded.call.public(batch))
    np.testing.assert_allclose(probabilities, direct_models[key].per_row(batch), rtol=1e-5, atol=1e-6)


def test_warm_up_replays_the_recorded_requests_then_powers_of_two(tiny_versions: dict[str, Path]) -> None:
    path = tiny_versions["image-1"]
    spec = read_spec(path)

    batches = warmup_batches(path, spec, max_batch_size=16)

    sizes = [len(batch) for batch in batches]
    assert sizes[-5:] == [1, 2, 4, 8, 16]
    assert len(sizes) > 5, "the recorded warm-up requests were not replayed"
    assert all(batch.dtype == np.uint8 and batch.shape[1:] == spec.features.input_shape for batch in batches)
    assert batches[0].any(), "recorded requests hold real samples, not zeros"


def test_garbage_saved_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf at all")

    with pytest.raises(VersionLoadError, match="cannot load the SavedModel"):
        load_version("broken", 1, tmp_path, max_batch_size=4)


def test_spec_file_disagreeing_with_the_signature_is_refused(tiny_versions: dict[str, Path], tmp_path: Path) -> None:
    version = shutil.copytree(tiny_versions["image-1"], tmp_path / "1")
    spec_file = version / "assets.extra" / "spec.json"
    spec = ModelSpec.from_json(spec_file.read_text())
    edited = spec.model_copy(update={"labels": tuple(reversed(spec.labels))})
    spec_file.write_text(ModelSpec.model_validate(edited.model_dump(exclude={"content_hash"})).to_json())

    with pytest.raises(VersionLoadError, match="disagree"):
        load_version(spec.name, 1, version, max_batch_size=4)


def test_corrupt_warm_up_file_is_refused(tiny_versions: dict[str, Path], tmp_path: Path) -> None:
    version = shutil.copytree(tiny_versions["text-1"], tmp_path / "1")
    (version / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"\x00" * 40)

    with pytest.raises(VersionLoadError, match="tf_serving_warmup_requests"):
        load_version("tiny-text", 1, version, max_batch_size=4)


def test_version_without_warm_up_file_is_warmed_with_zeros(tiny_versions: dict[str, Path], tmp_path: Path) -> None:
    version = shutil.copytree(tiny_versions["audio-1"], tmp_path / "1")
    (version / "assets.extra" / "tf_serving_warmup_requests").unlink()

    loaded = load_version("tiny-audio", 1, version, max_batch_size=4)

    assert loaded.call.path == "fast"


def test_signature_error_on_bad_values_becomes_invalid_input(tiny_versions: dict[str, Path]) -> None:
    loaded = load_version("tiny-text", 1, tiny_versions["text-1"], max_batch_size=4)
    features = loaded.spec.features
    ids = np.full((2, *features.input_shape), 10_000, np.int32)

    with pytest.raises(InvalidInput, match="refused the input"):
        loaded.call(ids)
