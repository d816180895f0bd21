"""The gateway in TF Serving mode runs, classifies and stays ready with TensorFlow made impossible to import."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap

from tfserving_support import ROOT

#: Run in a child process: TensorFlow, Keras and tensorflow-serving-api cannot be imported there.
GATEWAY_WITHOUT_TF = textwrap.dedent(
    """
    import asyncio, base64, json, sys
    from importlib.abc import MetaPathFinder

    BLOCKED = ("tensorflow", "keras", "tensorflow_serving", "tf_keras")

    class Refuse(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} must not be imported in TF Serving mode")
            return None

    sys.meta_path.insert(0, Refuse())

    import httpx
    from service.gateway import Gateway
    from service.settings import Settings
    from training.testing import tiny_input

    async def main():
        target, models_dir = sys.argv[1], sys.argv[2]
        settings = Settings(backend="tfserving", tfserving_target=target, models_dir=models_dir, port=0,
                            grpc_port=0, poll_interval_s=0.2)
        gateway = Gateway(settings)
        await gateway.start()
        try:
            async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=30) as client:
                for _ in range(600):
                    ready = await client.get("/readyz")
                    if ready.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                image = base64.b64encode(tiny_input("tiny-image", "cross")).decode()
                answer = await client.post("/v1/models/tiny-image:classify", json={"instances": [{"b64": image}]})
        finally:
            await gateway.stop()
        loaded = sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))
        print(json.dumps({"ready": ready.status_code, "status": answer.status_code, "answer": answer.json(),
                          "loaded": loaded}))

    asyncio.run(main())
    """
)


async def test_gateway_serves_with_tensorflow_blocked(model_server, tiny_models):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        GATEWAY_WITHOUT_TF,
        f"127.0.0.1:{model_server.port}",
        str(tiny_models),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=180)
    assert child.returncode == 0, stderr.decode()[-3000:]
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    assert report["loaded"] == []
    assert report["ready"] == 200
    assert report["status"] == 200
    assert report["answer"]["predictions"][0]["label"] == "cross"
