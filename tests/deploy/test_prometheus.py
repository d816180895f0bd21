"""deploy/prometheus and deploy/grafana against Debian's real Prometheus: promtool checks the config and the
rules and runs the alert fixtures; a Prometheus server on loopback scrapes a running gateway, loads the
alert rules, and answers every Grafana panel's query with data."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from gateway_support import running_gateway

from service.gateway import Gateway
from service.settings import PredictionLogSettings, Settings
from training.testing import tiny_input

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "classifier-gateway.json"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: apt-get install prometheus (scripts/bootstrap.sh installs it)"
    return subprocess.run([tool, *args], capture_output=True, text=True, cwd=PROMETHEUS_DIR, timeout=120)


def test_promtool_accepts_the_config() -> None:
    done = _promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_accepts_the_rules() -> None:
    done = _promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 rules found" in done.stdout


def test_alert_fixtures_pass() -> None:
    done = _promtool("test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_fixture_and_the_issue_s_alerts_exist() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    fixtures = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())
    tested = {case["alertname"] for test in fixtures["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert tested == alerts
    assert alerts == {
        "GatewayDown",
        "GatewayNotReady",
        "GatewayHigh5xxRatio",
        "GatewayP99OverBudget",
        "GatewayHigh429Ratio",
        "ModelClassDrift",
        "PredictionLogDropping",
    }


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def observed_gateway(tmp_path: Path, copy_tiny_models: Callable[[Path], Path]) -> AsyncIterator[Gateway]:
    """A gateway over tiny-text with gRPC and the prediction log on, ready."""
    settings = Settings(
        models_dir=copy_tiny_models(tmp_path / "models"),
        models=["tiny-text"],
        host="127.0.0.1",
        port=0,
        grpc_host="127.0.0.1",
        grpc_port=0,
        poll_interval_s=0.2,
        preprocess_threads=2,
        inference_threads=1,
        prediction_log=PredictionLogSettings(path=tmp_path / "predictions.jsonl"),
    )
    async with running_gateway(settings) as gateway:
        yield gateway


@pytest.fixture
async def prometheus(tmp_path: Path, observed_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """Debian's Prometheus on loopback with deploy/prometheus's config and rules, scraping the gateway each second."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: apt-get install prometheus (scripts/bootstrap.sh installs it)"
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway_job = jobs["gateway"]
    gateway_job["static_configs"] = [{"targets": [observed_gateway.rest.url.removeprefix("http://")]}]
    config["scrape_configs"] = [gateway_job]  # no TF Serving in this test
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    with (tmp_path / "prometheus.log").open("wb") as log_file:
        port = _free_port()
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/-/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError((tmp_path / "prometheus.log").read_text())
                yield client
        finally:
            process.terminate()
            await process.wait()


async def _traffic(gateway: Gateway, stop: asyncio.Event) -> None:
    texts = [tiny_input("tiny-text", label, seed=1) for label in ("food", "sport", "weather")]
    async with (
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=30) as client,
        grpc.aio.insecure_channel(gateway.grpc.address) as channel,
    ):
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
        while not stop.is_set():
            for text in texts:
                assert isinstance(text, str)
                response = await client.post("/v1/models/tiny-text:classify", json={"instances": [{"text": text}]})
                assert response.status_code == 200, response.text
                await stub.Classify(pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text=text)]), timeout=30)
            assert (await client.get("/v1/models/absent")).status_code == 404
            await asyncio.sleep(0.05)


async def _query(prometheus: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    response = await prometheus.get("/api/v1/query", params={"query": expr})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


async def test_prometheus_scrapes_the_gateway_and_every_panel_returns_data(
    observed_gateway: Gateway, prometheus: httpx.AsyncClient
) -> None:
    stop = asyncio.Event()
    traffic = asyncio.create_task(_traffic(observed_gateway, stop))
    queries = _panel_queries()
    empty: list[tuple[str, str]] = queries
    try:
        for _ in range(120):  # each round is about half a second
            await asyncio.sleep(0.5)
            assert not traffic.done() or traffic.exception() is None
            empty = [(title, expr) for title, expr in queries if not await _query(prometheus, expr)]
            if not empty:
                break
    finally:
        stop.set()
        await traffic
    assert not empty, f"panels without data: {empty}"

    up = await _query(prometheus, 'up{job="gateway"}')
    assert [sample["value"][1] for sample in up] == ["1"]
    drift = await _query(prometheus, 'classifier_class_drift{model="tiny-text", version="1"}')
    assert 0.0 <= float(drift[0]["value"][1]) <= 1.0
    codes = {s["metric"]["code"] for s in await _query(prometheus, "classifier_requests_total")}
    assert {"200", "404", "OK"} <= codes
    written = await _query(prometheus, "classifier_prediction_log_written_total")
    assert float(written[0]["value"][1]) > 0

    rules = (await prometheus.get("/api/v1/rules")).json()["data"]["groups"]
    loaded = {rule["name"]: rule for group in rules for rule in group["rules"]}
    assert len(loaded) == 7
    assert all(rule["health"] in ("ok", "unknown") for rule in loaded.values()), loaded
