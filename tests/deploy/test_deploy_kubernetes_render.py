"""Every Kustomize overlay renders with ``kubectl kustomize``, Kubernetes' own objects validate strictly
against the API schemas (kubernetes-validate, offline), custom resources hold together, and the TF Serving
ConfigMaps are exactly what ``service.tfserving_config`` generates."""

from __future__ import annotations

import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
from kubernetes_support import (
    CUSTOM_KINDS,
    KUBERNETES,
    OVERLAYS,
    ROOT,
    configmap,
    containers,
    env_of,
    env_settings,
    find,
    labels_match,
    one,
    render,
    render_dir,
)

from service.settings import Settings
from service.tfserving_config import (
    BATCHING_PARAMETERS_FILE,
    MODEL_CONFIG_FILE,
    MONITORING_CONFIG_FILE,
    batching_parameters,
    model_server_config,
    monitoring_config,
    read_model_names,
    write_serving_config,
)

#: The oldest Kubernetes these manifests target (native gRPC probes are GA from 1.27), and the newest schemas.
KUBERNETES_VERSIONS = ["1.27", kubernetes_validate.latest_version()]
CONFIG_DIR = KUBERNETES / "base" / "tfserving-config"
CONFIG_FILES = (MODEL_CONFIG_FILE, BATCHING_PARAMETERS_FILE, MONITORING_CONFIG_FILE)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders(overlay):
    docs = render(overlay)
    assert docs
    assert all(d["metadata"].get("namespace") == "classifier" for d in docs if d["kind"] != "Namespace")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_objects_validate_strictly(overlay, version):
    for doc in render(overlay):
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_refuses_an_unknown_field():
    deployment = one(render("overlays/gpu"), "Deployment", "gateway")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_only_known_custom_resources_appear():
    kinds = {d["kind"] for overlay in OVERLAYS for d in render(overlay)}
    assert kinds & CUSTOM_KINDS == CUSTOM_KINDS


def test_service_monitors_select_services_and_their_ports():
    docs = render("overlays/servicemonitor")
    monitors = find(docs, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"gateway", "tfserving"}
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        services = [
            s
            for s in find(docs, "Service")
            if labels_match(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(services) == 1, monitor["metadata"]["name"]
        port_names = {p["name"] for p in services[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"].startswith("/")
    paths = {m["metadata"]["name"]: m["spec"]["endpoints"][0]["path"] for m in monitors}
    assert paths == {"gateway": "/metrics", "tfserving": "/monitoring/prometheus/metrics"}


def test_scaled_object_scales_the_gateway_on_requests_in_flight():
    docs = render("overlays/keda")
    scaled = one(docs, "ScaledObject", "gateway")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "gateway")
    one(docs, "Deployment", target["name"])
    # It adopts the base's HPA rather than running a second autoscaler on the same Deployment.
    hpa = one(docs, "HorizontalPodAutoscaler", scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"])
    assert hpa["spec"]["scaleTargetRef"]["name"] == target["name"]
    assert scaled["metadata"]["annotations"]["scaledobject.keda.sh/transfer-hpa-ownership"] == "true"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert "classifier_inflight_requests" in trigger["metadata"]["query"]
    assert float(trigger["metadata"]["threshold"]) > 0
    assert 0 < scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_inference_service_has_tf_predictor_and_gateway_transformer(monkeypatch):
    (service,) = render("kserve")
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    name = service["metadata"]["name"]
    predictor = service["spec"]["predictor"]["tensorflow"]
    assert predictor["storageUri"].endswith(f"/{name}")
    assert predictor["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(p["name"] == "h2c" for p in predictor["ports"])
    (transformer,) = service["spec"]["transformer"]["containers"]
    env = env_of(transformer)
    assert env["CLASSIFIER_BACKEND"] == "tfserving"
    assert env["CLASSIFIER_MODELS"] == f'["{name}"]'  # KServe names the model after the InferenceService
    assert env["CLASSIFIER_TFSERVING_TARGET"].startswith(f"{name}-predictor.")
    assert env_settings(transformer, monkeypatch).models == [name]
    assert transformer["securityContext"]["readOnlyRootFilesystem"] is True


# -- the generated TF Serving config ----------------------------------------------------------------------


def test_committed_config_files_are_the_generators_output():
    """No hand edits: the committed files equal a fresh generation for the models they name."""
    names = read_model_names(CONFIG_DIR / MODEL_CONFIG_FILE)
    assert names == ["digits", "spam", "spoken-digits"]
    settings = Settings()
    assert (CONFIG_DIR / MODEL_CONFIG_FILE).read_text() == model_server_config(names, settings)
    assert (CONFIG_DIR / BATCHING_PARAMETERS_FILE).read_text() == batching_parameters(settings)
    assert (CONFIG_DIR / MONITORING_CONFIG_FILE).read_text() == monitoring_config()


@pytest.mark.parametrize("overlay", ["overlays/gpu", "overlays/cpu"])
def test_rendered_configmap_holds_the_generated_files_where_tf_serving_reads_them(overlay):
    docs = render(overlay)
    data = configmap(docs, "tfserving-config")["data"]
    assert data == {name: (CONFIG_DIR / name).read_text() for name in CONFIG_FILES}
    tfserving = one(docs, "Deployment", "tfserving")
    spec = tfserving["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volume = next(
        v
        for v in spec["volumes"]
        if v.get("configMap", {}).get("name") == configmap(docs, "tfserving-config")["metadata"]["name"]
    )
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in container["args"])
    for flag, filename in [
        ("model_config_file", MODEL_CONFIG_FILE),
        ("batching_parameters_file", BATCHING_PARAMETERS_FILE),
        ("monitoring_config_file", MONITORING_CONFIG_FILE),
    ]:
        assert flags[flag] == f"{mounts[volume['name']]}/{filename}"
    assert flags["enable_batching"] == "true"
    # The gateway reads the model names from the same generated models.config.
    gateway_spec = one(docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    (gateway,) = gateway_spec["containers"]
    gateway_volume = next(
        v for v in gateway_spec["volumes"] if v.get("configMap", {}).get("name") == volume["configMap"]["name"]
    )
    gateway_mount = next(m for m in gateway["volumeMounts"] if m["name"] == gateway_volume["name"])
    assert env_of(gateway)["CLASSIFIER_MODELS_DIR"] == gateway_mount["mountPath"]


@pytest.mark.slow
def test_make_k8s_config_renders_configmaps_equal_to_the_generator_for_tiny_models(tiny_models_template, tmp_path):
    """`make k8s-config`'s command over the tiny models, then a render: the ConfigMap is the generator's output."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    out = tree / "base" / "tfserving-config"
    command = [
        sys.executable,
        "-m",
        "service.tfserving_config",
        "--models-dir",
        str(tiny_models_template),
        "--out",
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr

    expected_dir = tmp_path / "expected"
    write_serving_config(tiny_models_template, expected_dir, settings=Settings())
    expected = {name: (expected_dir / name).read_text() for name in CONFIG_FILES}
    assert read_model_names(expected_dir / MODEL_CONFIG_FILE) == ["tiny-audio", "tiny-image", "tiny-text"]
    for overlay in ("overlays/gpu", "overlays/cpu"):
        docs = render_dir(tree / overlay)
        assert configmap(docs, "tfserving-config")["data"] == expected
        # A changed config is a new ConfigMap name (hash suffix), so the Deployments roll out with it.
        assert (
            configmap(docs, "tfserving-config")["metadata"]["name"]
            != configmap(render(overlay), "tfserving-config")["metadata"]["name"]
        )


def test_every_container_names_an_image_of_this_repository_or_tf_serving():
    images = {c["image"].rsplit(":", 1)[0] for overlay in OVERLAYS for _, c in containers(render(overlay))}
    assert images == {"classifier-gateway", "classifier-gateway-tf", "tensorflow/serving"}
