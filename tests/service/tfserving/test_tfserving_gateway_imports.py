"""A TF Serving-mode gateway starts without SciPy: it is loaded only by the functions that need it.

SciPy's signal, spatial and stats packages cost a process about 70 MiB of RSS (the per-worker memory
target is 150 MiB); ``features.audio`` needs ``scipy.fft`` for a spectrogram and ``scipy.signal`` only
to resample, ``service.rollout.comparison`` needs ``scipy.spatial`` only when versions are compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tfserving_support import ROOT

CHILD = textwrap.dedent(
    """
    import io, json, sys
    import numpy as np, soundfile
    import service.__main__
    from service.gateway import Gateway
    from service.settings import Settings

    Gateway(Settings(backend="tfserving", models_dir=sys.argv[1], port=0, grpc_port=0))
    report = {"at_start": sorted(m for m in sys.modules if m.split(".")[0] == "scipy" and m.count(".") < 2)}

    from features.audio import preprocess_audio
    from features.spec import AudioFeatures

    spec = AudioFeatures(sample_rate=16000, clip_seconds=0.5)
    def wav(rate):
        buffer = io.BytesIO()
        soundfile.write(buffer, np.zeros(rate // 4, np.float32), rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()
    preprocess_audio(wav(16000), spec)
    report["after_same_rate"] = sorted(m for m in ("scipy.fft", "scipy.signal") if m in sys.modules)
    preprocess_audio(wav(8000), spec)
    report["after_resampling"] = sorted(m for m in ("scipy.fft", "scipy.signal") if m in sys.modules)
    print(json.dumps(report))
    """
)


def test_scipy_loads_only_when_a_function_needs_it(tiny_models):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tiny_models)], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert child.returncode == 0, child.stderr.decode()[-3000:]
    report = json.loads(child.stdout.decode().strip().splitlines()[-1])
    assert report["at_start"] == []
    assert report["after_same_rate"] == ["scipy.fft"]  # a spectrogram, no resampling
    assert report["after_resampling"] == ["scipy.fft", "scipy.signal"]
