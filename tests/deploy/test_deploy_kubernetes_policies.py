"""The policies that matter in the rendered manifests: resources, probes, hardening, pinned images,
disruption budgets, autoscaling, network isolation, the headless Service, and a drain that fits."""

from __future__ import annotations

import math
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from kubernetes_support import KUBERNETES, ROOT, containers, env_of, env_settings, find, labels_match, one, render

from service.tfserving_config import MODEL_CONFIG_FILE

#: The installs a team deploys; every container in them is held to the policies below.
INSTALLS = ["overlays/gpu", "overlays/cpu", "overlays/embedded", "overlays/servicemonitor", "overlays/keda"]
MULTI_REPLICA = ["overlays/gpu", "overlays/cpu", "overlays/servicemonitor", "overlays/keda"]
PINNED = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9]+)?$")


def _pod(deployment):
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("install", INSTALLS)
def test_every_container_has_requests_limits_probes_and_a_pinned_image(install):
    found = list(containers(render(install)))
    assert found
    for deployment, container in found:
        where = f"{install} {deployment['metadata']['name']}/{container['name']}"
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), where
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{where}: no {probe}"
        assert PINNED.match(container["image"]), f"{where}: image {container['image']} is not pinned"
        assert not container["image"].endswith(":latest")
        assert container.get("imagePullPolicy", "IfNotPresent") != "Always"


@pytest.mark.parametrize("install", INSTALLS)
def test_every_container_runs_non_root_read_only_without_capabilities(install):
    for deployment, container in containers(render(install)):
        where = f"{install} {deployment['metadata']['name']}/{container['name']}"
        pod, security = _pod(deployment)["securityContext"], container["securityContext"]
        assert security.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
        assert security.get("runAsUser", pod.get("runAsUser", 0)) != 0, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["capabilities"]["drop"] == ["ALL"], where
        assert "add" not in security["capabilities"], where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert _pod(deployment)["automountServiceAccountToken"] is False, where
        # A read-only root still needs a writable /tmp.
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), where


@pytest.mark.parametrize("install", MULTI_REPLICA)
def test_each_deployment_has_a_disruption_budget_and_the_gateway_an_autoscaler(install):
    docs = render(install)
    budgets = find(docs, "PodDisruptionBudget")
    for deployment in find(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if labels_match(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, deployment["metadata"]["name"]
    hpa = one(docs, "HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # The gateway's CPU request is what the utilisation target is a share of.
    gateway = _pod(one(docs, "Deployment", "gateway"))["containers"][0]
    assert gateway["resources"]["requests"]["cpu"]


def test_embedded_install_is_one_gateway_on_the_model_volume(monkeypatch):
    docs = render("overlays/embedded")
    (deployment,) = find(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert not find(docs, "HorizontalPodAutoscaler") and not find(docs, "PodDisruptionBudget")
    (container,) = _pod(deployment)["containers"]
    settings = env_settings(container, monkeypatch)
    assert settings.backend == "embedded"
    assert container["image"].startswith("classifier-gateway-tf:")
    models = next(v for v in _pod(deployment)["volumes"] if v["name"] == "models")
    claim = one(docs, "PersistentVolumeClaim", models["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "models")
    assert str(settings.models_dir) == mount["mountPath"]


@pytest.mark.parametrize("install", ["overlays/gpu", "overlays/cpu"])
def test_tf_serving_is_reached_through_a_headless_service_by_gateways_only(install, monkeypatch):
    docs = render(install)
    tfserving = one(docs, "Deployment", "tfserving")
    pod_labels = tfserving["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service", "tfserving")
    assert service["spec"]["clusterIP"] == "None"  # headless: DNS answers every ready pod
    assert labels_match(service["spec"]["selector"], pod_labels)
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports["grpc"] == 8500

    gateway = one(docs, "Deployment", "gateway")
    settings = env_settings(_pod(gateway)["containers"][0], monkeypatch)
    assert settings.tfserving_target == f"dns:///{service['metadata']['name']}:{ports['grpc']}"
    assert 0 < settings.tfserving_resolve_interval_s <= 5

    (policy,) = find(docs, "NetworkPolicy")
    assert labels_match(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    grpc_rules = [r for r in policy["spec"]["ingress"] if any(p["port"] == 8500 for p in r["ports"])]
    assert len(grpc_rules) == 1
    (source,) = grpc_rules[0]["from"]
    assert labels_match(source["podSelector"]["matchLabels"], gateway["spec"]["template"]["metadata"]["labels"])
    assert "namespaceSelector" not in source


def test_gpu_overlay_puts_tf_serving_on_a_gpu():
    tfserving = _pod(one(render("overlays/gpu"), "Deployment", "tfserving"))
    (container,) = tfserving["containers"]
    assert container["image"].endswith("-gpu")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert tfserving["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in tfserving["tolerations"])
    cpu = _pod(one(render("overlays/cpu"), "Deployment", "tfserving"))["containers"][0]
    assert cpu["image"] == container["image"].removesuffix("-gpu")
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]


def _pre_stop_seconds(container):
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    return float(command[1])


@pytest.mark.parametrize("install", INSTALLS)
def test_gateway_termination_grace_fits_pre_stop_and_drain(install, monkeypatch):
    gateway = one(render(install), "Deployment", "gateway")
    (container,) = _pod(gateway)["containers"]
    settings = env_settings(container, monkeypatch)
    # service.gateway: surfaces drain for ceil(request_timeout_s) + 5 s, then the TF Serving backend waits
    # up to tfserving_timeout_s for predictions in flight and as long again for its channel to close.
    drain = math.ceil(settings.request_timeout_s) + 5 + 2 * settings.tfserving_timeout_s
    pre_stop = _pre_stop_seconds(container)
    assert pre_stop > 0
    assert _pod(gateway)["terminationGracePeriodSeconds"] >= pre_stop + drain


@pytest.mark.parametrize("install", ["overlays/gpu", "overlays/cpu"])
def test_tf_serving_keeps_serving_until_gateways_have_re_resolved(install, monkeypatch):
    docs = render(install)
    settings = env_settings(_pod(one(docs, "Deployment", "gateway"))["containers"][0], monkeypatch)
    tfserving = one(docs, "Deployment", "tfserving")
    pre_stop = _pre_stop_seconds(_pod(tfserving)["containers"][0])
    cluster_dns_ttl_s = 5  # CoreDNS's default TTL for Service records
    assert pre_stop >= cluster_dns_ttl_s + 2 * settings.tfserving_resolve_interval_s
    assert _pod(tfserving)["terminationGracePeriodSeconds"] >= pre_stop + settings.tfserving_timeout_s


@pytest.mark.parametrize("install", INSTALLS)
def test_gateway_probes_use_readyz_healthz_and_grpc_health(install, monkeypatch):
    gateway = one(render(install), "Deployment", "gateway")
    (container,) = _pod(gateway)["containers"]
    settings = env_settings(container, monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (ports["http"], ports["grpc"]) == (settings.port, settings.grpc_port)
    assert settings.host == settings.grpc_host == "0.0.0.0"
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    grpc_probe = container["readinessProbe"]["grpc"]
    assert grpc_probe["port"] == settings.grpc_port
    assert grpc_probe["service"] == "classifier.v1.Classifier"
    # The startup probe allows a slow model load before liveness applies.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


@pytest.mark.parametrize("install", INSTALLS)
def test_api_keys_come_from_a_secret_mounted_as_a_file(install):
    gateway = one(render(install), "Deployment", "gateway")
    (container,) = _pod(gateway)["containers"]
    keys_file = Path(env_of(container)["CLASSIFIER_AUTH__KEYS_FILE"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(keys_file.parent))
    assert mount["readOnly"] is True
    volume = next(v for v in _pod(gateway)["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "classifier-api-keys"
    assert "items" not in volume["secret"]  # every key of the Secret is a file; the README names `api-keys`
    assert keys_file.name == "api-keys"


def test_ingress_routes_rest_and_grpc_to_the_gateway():
    docs = render("overlays/gpu")
    service = one(docs, "Service", "gateway")
    ports = {p["name"] for p in service["spec"]["ports"]}
    routes = {}
    for ingress in find(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == "gateway" and backend["port"]["name"] in ports
                routes[backend["port"]["name"]] = ingress
    assert set(routes) == {"http", "grpc"}
    assert routes["grpc"]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    assert routes["grpc"]["spec"]["tls"]  # HTTP/2 to the ingress needs TLS


# -- TF Serving's readiness probe script, run against a stand-in for TF Serving's REST status ---------------


class _Status(BaseHTTPRequestHandler):
    states: ClassVar[dict[str, str]] = {}

    def do_GET(self):
        name = self.path.removeprefix("/v1/models/")
        state = self.states.get(name)
        if state is None:
            self.send_response(404)
            self.end_headers()
            return
        body = f'{{\n "model_version_status": [\n  {{\n   "version": "1",\n   "state": "{state}"\n  }}\n ]\n}}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def tf_serving_status() -> Iterator[tuple[int, dict[str, str]]]:
    """A loopback HTTP server answering GET /v1/models/NAME like TF Serving's REST API; set its states."""
    states: ClassVar[dict[str, str]] = {}
    handler = type("Status", (_Status,), {"states": states})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], states
    finally:
        server.shutdown()
        server.server_close()


def _probe(port: int) -> subprocess.CompletedProcess[str]:
    script = KUBERNETES / "base" / "tfserving" / "models-available.sh"
    config = KUBERNETES / "base" / "tfserving-config" / MODEL_CONFIG_FILE
    env = {"TFSERVING_REST_PORT": str(port), "TFSERVING_MODEL_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", str(script)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_tf_serving_probe_passes_only_when_every_model_is_available(tf_serving_status):
    port, states = tf_serving_status
    states.update({"digits": "AVAILABLE", "spam": "AVAILABLE", "spoken-digits": "LOADING"})
    done = _probe(port)
    assert done.returncode == 1
    assert "spoken-digits" in done.stdout
    states["spoken-digits"] = "AVAILABLE"
    assert _probe(port).returncode == 0
    del states["spam"]
    assert _probe(port).returncode == 1


def test_tf_serving_probe_fails_when_tf_serving_is_not_listening(tf_serving_status):
    port, states = tf_serving_status
    states.update({"digits": "AVAILABLE", "spam": "AVAILABLE", "spoken-digits": "AVAILABLE"})
    assert _probe(port).returncode == 0
    assert _probe(1).returncode != 0  # nothing listens on port 1


def test_probe_script_is_what_the_deployment_runs():
    docs = render("overlays/gpu")
    (container,) = _pod(one(docs, "Deployment", "tfserving"))["containers"]
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"] == ["bash", "/etc/tfserving-probe/models-available.sh"]
    assert container["livenessProbe"]["tcpSocket"]["port"] == "grpc"


# -- the image of the embedded install ----------------------------------------------------------------------


def _stages() -> dict[str, str]:
    dockerfile = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", dockerfile, flags=re.M | re.S))


def test_embedded_overlay_image_is_the_dockerfiles_gateway_tf_target():
    stages = _stages()
    build, final = stages["gateway-tf-build"], stages["gateway-tf"]
    assert ".[serve]" in build and "import tensorflow" in build  # the build fails without TensorFlow
    assert "COPY --from=gateway-tf-build /opt/venv /opt/venv" in final
    assert re.search(r"^USER (?!root)\S+", final, flags=re.M)
    assert "CLASSIFIER_BACKEND=embedded" in final and "/readyz" in final
    # `docker build --target gateway-tf -t classifier-gateway-tf:VERSION .` makes the image the overlay names.
    (_, container), *_ = containers(render("overlays/embedded"))
    assert container["image"].startswith("classifier-gateway-tf:")
    assert list(stages)[-1] == "gateway"  # still the default target
