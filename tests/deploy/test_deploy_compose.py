"""docker-compose files validate (docker-compose v1, offline) and describe the deployment the README promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.tfserving_config import (
    BATCHING_PARAMETERS_FILE,
    MODEL_CONFIG_FILE,
    MONITORING_CONFIG_FILE,
    PROMETHEUS_PATH,
)

ROOT = Path(__file__).resolve().parents[2]
ALL_PROFILES = ["--profile", "trainer", "--profile", "loadtest", "--profile", "monitoring"]
GPU = {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}


@pytest.fixture(scope="module")
def gpu_config(compose, run):
    """The resolved default configuration: docker-compose.yml plus docker-compose.override.yml (GPU)."""
    done = run([*compose, *ALL_PROFILES, "config"])
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def cpu_config(compose, run):
    """The resolved CPU-only configuration: docker-compose.yml alone."""
    done = run([*compose, "-f", "docker-compose.yml", *ALL_PROFILES, "config"])
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.mark.parametrize("files", [[], ["-f", "docker-compose.yml"]], ids=["gpu-default", "cpu-only"])
def test_compose_files_validate(compose, run, files):
    done = run([*compose, *files, "config", "-q"])
    assert done.returncode == 0, done.stderr


def _published(port: Any) -> tuple[str, int]:
    """``(host_ip, published port)`` of a port, long form or docker-compose v1's "IP:PUBLISHED:TARGET/tcp"."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), int(port["published"])
    parts = str(port).split("/")[0].split(":")
    return (parts[0] if len(parts) == 3 else ""), int(parts[-2])


def _devices(service: dict[str, Any]) -> Any:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


def test_default_reserves_a_gpu_for_tf_serving_and_trainer(gpu_config):
    services = gpu_config["services"]
    assert re.fullmatch(r"tensorflow/serving:\d+\.\d+\.\d+-gpu", services["tfserving"]["image"])
    assert _devices(services["tfserving"]) == [GPU]
    assert _devices(services["trainer"]) == [GPU]


def test_cpu_variant_uses_cpu_image_and_reserves_nothing(cpu_config, gpu_config):
    services = cpu_config["services"]
    assert services["tfserving"]["image"] == gpu_config["services"]["tfserving"]["image"].removesuffix("-gpu")
    assert all(not _devices(service) for service in services.values())


def test_tf_serving_flags_point_at_generated_files_and_publish_no_port(gpu_config):
    tfserving = gpu_config["services"]["tfserving"]
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in tfserving["command"])
    assert flags["model_config_file"] == f"/models/{MODEL_CONFIG_FILE}"
    assert flags["batching_parameters_file"] == f"/models/{BATCHING_PARAMETERS_FILE}"
    assert flags["monitoring_config_file"] == f"/models/{MONITORING_CONFIG_FILE}"
    assert flags["enable_batching"] == "true"
    assert int(flags["file_system_poll_wait_seconds"]) > 0
    assert flags["port"] == "8500"
    assert "ports" not in tfserving
    assert any(volume.endswith(":/models:ro") for volume in tfserving["volumes"])


def test_gateway_runs_tfserving_mode_published_and_health_checked(gpu_config):
    gateway = gpu_config["services"]["gateway"]
    env = gateway["environment"]
    assert env["CLASSIFIER_BACKEND"] == "tfserving"
    assert env["CLASSIFIER_TFSERVING_TARGET"].endswith("tfserving:8500")
    published = sorted(_published(p)[1] for p in gateway["ports"])
    assert published == [8000, 50051]
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["build"]["target"] == "gateway"


def test_profiles_hold_trainer_loadtest_and_monitoring(gpu_config):
    services = gpu_config["services"]
    assert services["trainer"]["profiles"] == ["trainer"]
    assert services["locust-master"]["profiles"] == services["locust-worker"]["profiles"] == ["loadtest"]
    assert "loadtest/locustfile.py" in services["locust-master"]["command"]
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]
    for name in ("tfserving", "gateway", "serving-config"):
        assert "profiles" not in services[name]


def test_prometheus_scrapes_gateway_and_tf_serving():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["gateway"]["static_configs"][0]["targets"] == ["gateway:8000"]
    assert jobs["gateway"]["metrics_path"] == "/metrics"
    assert jobs["tfserving"]["static_configs"][0]["targets"] == ["tfserving:8501"]
    assert jobs["tfserving"]["metrics_path"] == PROMETHEUS_PATH


def test_gateway_image_is_slim_non_root_and_health_checked():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", dockerfile, flags=re.M | re.S))
    assert "tensorflow" not in stages["gateway-build"].replace("! pip show tensorflow", "")
    assert ".[gateway]" in stages["gateway-build"]
    assert re.search(r"^USER (?!root)\S+", stages["gateway"], flags=re.M)
    assert "/readyz" in stages["gateway"] and "HEALTHCHECK" in stages["gateway"]
    # A fresh stage without build tools, and the last one, so a plain `docker build .` makes the gateway.
    assert list(stages)[-1] == "gateway"
    assert re.search(r"^FROM python-base AS gateway$", dockerfile, flags=re.M)


def test_gateway_requires_api_keys_and_publishes_on_loopback_only(gpu_config):
    services = gpu_config["services"]
    gateway = services["gateway"]
    keys_folder = str(Path(gateway["environment"]["CLASSIFIER_AUTH__KEYS_FILE"]).parent)
    assert any(str(volume).endswith(f":{keys_folder}:ro") for volume in gateway["volumes"]), gateway["volumes"]
    for name in ("gateway", "locust-master", "prometheus"):
        for port in services[name]["ports"]:
            assert _published(port)[0] == "127.0.0.1", (name, port)
    assert "CLASSIFIER_API_KEY" in services["locust-worker"]["environment"]
