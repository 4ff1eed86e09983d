"""docker-compose.yml and convox.yml against Convox's own manifest readers.

Convox's loaders (yaml.v2's non-strict Unmarshal in convox/rack pkg/manifest1/manifest.go
Load and pkg/manifest/manifest.go, convox/convox pkg/manifest/manifest.go) drop every key
they do not know, silently: the key lists below are the yaml tags of their structs, so a
key that Convox would drop shows here. What the image does under Convox's rules is run
for real in tests/test_image.py (the Convox gen1 section).
"""

import pytest
import yaml

from exampleproject import web
from tests import convox_gen1
from tests.servers import ROOT
from tests.test_settings import deployment_variables, settings_variables

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OVERRIDE = yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())
CONVOX = yaml.safe_load((ROOT / "convox.yml").read_text())

# convox/rack pkg/manifest1/service.go, Service: what Convox gen1 reads of a service.
MANIFEST1_SERVICE = {
    "build",
    "command",
    "dockerfile",
    "entrypoint",
    "environment",
    "extra_hosts",
    "image",
    "labels",
    "links",
    "ports",
    "privileged",
    "volumes",
    "cpu_shares",
    "mem_limit",
}
# convox/convox pkg/manifest/service.go, Service: current Convox.
CONVOX_SERVICE = {
    "agent",
    "annotations",
    "build",
    "certificate",
    "command",
    "configMounts",
    "deployment",
    "dnsConfig",
    "domain",
    "drain",
    "disableHostUsers",
    "environment",
    "grpcHealthEnabled",
    "health",
    "liveness",
    "startupProbe",
    "image",
    "imagePullSecrets",
    "init",
    "initContainer",
    "internal",
    "internalRouter",
    "ingressAnnotations",
    "labels",
    "nodeAffinityLabels",
    "nodeSelectorLabels",
    "lifecycle",
    "port",
    "ports",
    "privileged",
    "resources",
    "securityContext",
    "scale",
    "singleton",
    "sticky",
    "termination",
    "test",
    "timeout",
    "tls",
    "volumes",
    "volumeOptions",
    "whitelist",
    "accessControl",
}
# convox/convox pkg/manifest/manifest.go, Manifest.
CONVOX_MANIFEST = {
    "appSettings",
    "balancers",
    "budget",
    "configs",
    "environment",
    "labels",
    "params",
    "resources",
    "services",
    "timers",
}
# convox/rack pkg/manifest/service.go, Service: generation 2 apps on a convox/rack Rack.
RACK_GEN2_SERVICE = {
    "agent",
    "build",
    "command",
    "deployment",
    "domain",
    "drain",
    "environment",
    "health",
    "image",
    "init",
    "internal",
    "internalAndExternal",
    "links",
    "nlb",
    "policies",
    "port",
    "privileged",
    "resources",
    "scale",
    "singleton",
    "sticky",
    "tags",
    "termination",
    "test",
    "volumes",
}


# --- 1. `convox start` picks generation 1 ------------------------------------------------


def test_local_setting_selects_generation_1():
    """convox/rack pkg/cli/start.go, Start: generation 1 when c.LocalSetting("generation")
    is "1", which stdcli reads as the trimmed content of .convox/generation (setting.go,
    LocalSetting). The file stays out of the image (.dockerignore)."""
    assert (ROOT / ".convox" / "generation").read_text().strip() == "1"
    assert ".convox" in (ROOT / ".dockerignore").read_text().split()


# --- 2 and 7. keys each tool reads ---------------------------------------------------------


def test_compose_keys_convox_ignores_are_docker_compose_only():
    """What Convox gen1 drops from docker-compose.yml is what only docker-compose needs;
    the file says so beside each."""
    ignored = {name: set(service) - MANIFEST1_SERVICE for name, service in COMPOSE["services"].items()}
    hardening = {"security_opt", "cap_drop", "read_only", "tmpfs"}  # a Rack's task definition has none
    assert ignored == {
        "web": {"stop_grace_period", "depends_on", *hardening},
        "worker": {"stop_grace_period", "depends_on", "healthcheck", *hardening},
        "database": {"healthcheck"},
    }
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    for key in ("stop_grace_period", "depends_on", "healthcheck", *hardening):
        above = lines[: next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))]
        comment = []
        while above and above[-1].strip().startswith("#"):
            comment.insert(0, above.pop().strip())
        assert "docker-compose only" in " ".join(comment), key


def test_convox_yml_keys_are_current_convoxs():
    assert set(CONVOX) <= CONVOX_MANIFEST
    for service in CONVOX["services"].values():
        assert set(service) <= CONVOX_SERVICE


def test_convox_yml_needs_current_convox_not_a_rack_generation_2():
    """A generation 2 app on a convox/rack Rack (`convox apps create`'s default there,
    pkg/structs/app.go AppCreateOptions) would drop these keys, so migrations would never
    run, and would turn the 5-field schedule into an AWS cron it cannot be (timer.go, Cron,
    appends " *": both day fields "*", where AWS needs one of them "?")."""
    web = CONVOX["services"]["web"]
    assert set(web) - RACK_GEN2_SERVICE == {"liveness", "initContainer", "timeout", "securityContext"}
    schedule = CONVOX["timers"]["clearsessions"]["schedule"]
    assert len(schedule.split(" ")) == 5
    aws_cron = f"{schedule} *".split(" ")  # timer.go, Cron
    assert aws_cron[2] == "*" and aws_cron[4] == "*"  # day of month and day of week: rejected by AWS
    page = (ROOT / "docs" / "deploy" / "convox.md").read_text()
    assert "convox apps create -g 1" in page


# --- 3. production data never in the database container ------------------------------------


def test_compose_database_volume_is_not_one_a_rack_mounts():
    """pkg/manifest1/service.go, MountableVolumes: only an absolute host path is mounted on a
    Rack. The named volume is dropped there, so the container is for local use; settings.py
    refuses it on a Rack (tests/test_settings.py, test_rack_refuses_...)."""
    for volume in COMPOSE["services"]["database"]["volumes"]:
        assert not volume.split(":")[0].startswith("/")


# --- 4. the database version -----------------------------------------------------------------


def test_convox_database_version_is_pinned_to_the_one_tested():
    """convox/convox provider/k8s/template/resource/postgres.yml.tmpl runs
    postgres:{{ coalesce (index .Parameters "version") "10.5" }}; Resource.Options is a
    map[string]string. Django refuses anything below its minimum; docker-compose.yml's
    database, which the image tests run, is the version pinned."""
    from django.db.backends.postgresql.features import DatabaseFeatures

    version = CONVOX["resources"]["database"]["options"]["version"]
    assert isinstance(version, str)
    assert (int(version.split(".")[0]),) >= DatabaseFeatures.minimum_database_version
    assert COMPOSE["services"]["database"]["image"] == f"postgres:{version}"


# --- 5. migrations on gen1 -------------------------------------------------------------------


def test_gen1_migrates_on_start_and_current_convox_in_its_init_container():
    """gen1 has no release phase: each web container migrates before it serves. Current
    Convox runs bin/release as the init container instead, and must not do both."""
    web = convox_gen1.environment(COMPOSE["services"]["web"])
    assert ("RELEASE_ON_START", "true", False) in web
    assert CONVOX["services"]["web"]["initContainer"]["command"] == "bin/release"
    assert "RELEASE_ON_START" not in str(CONVOX)


# --- 6. what reaches the app under `convox start` -------------------------------------------


def test_compose_lists_the_optional_variables_for_convox_start():
    """Under `convox start` only listed variables reach the container: the optional ones
    are listed with an empty default (NAME=), and docker-compose.override.yml passes the
    same names through (NAME) for docker-compose, which would otherwise set them empty.
    docker-compose.yml holds the list; the override's copy must equal it."""
    web = convox_gen1.environment(COMPOSE["services"]["web"])
    required = [name for name, value, needed in web if needed]
    optional = [name for name, value, needed in web if not needed and value == ""]
    assert required == ["SECRET_KEY", "ALLOWED_HOSTS"] == CONVOX["environment"]
    known = set(settings_variables()) | set(deployment_variables())
    assert set(optional) <= known, set(optional) - known
    assert "SECURE_SSL_REDIRECT" in optional
    passed_through = [item for item in OVERRIDE["services"]["web"]["environment"] if "=" not in item]
    assert passed_through == optional


# --- 8. memory ------------------------------------------------------------------------------


def test_memory_declared_in_both_manifests():
    """docker-compose.yml's mem_limit (`convox start`'s --memory) and convox.yml's
    scale.memory (the pod's limit, in MB) agree."""
    for name in ("web", "worker"):
        compose_bytes = convox_gen1.ram_in_bytes(COMPOSE["services"][name]["mem_limit"])
        assert compose_bytes == CONVOX["services"][name]["scale"]["memory"] * 2**20


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"memory.max": "268435456\n"}, 256),  # cgroup v2, 256 MB
        ({"memory.max": "max\n"}, None),  # cgroup v2, no limit
        ({"memory/memory.limit_in_bytes": "536870912\n"}, 512),  # cgroup v1
        ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, None),  # cgroup v1, no limit
        ({}, None),  # no cgroup files at all
    ],
)
def test_memory_limit_read_from_cgroups(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert web.container_memory_mb(tmp_path) == expected


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "50000 100000\n"}, 1),  # cgroup v2 quota: half a CPU rounds up to 1
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ],
)
def test_cpu_quota_read_from_cgroups(tmp_path, files, expected):
    import os

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert web.container_cpus(tmp_path) == min(affinity, expected or affinity)


def test_default_workers():
    workers = web.default_workers
    assert workers(8, None) == 17  # no memory limit: 2 x CPUs + 1
    assert workers(8, 256) == 1  # a gen1 Rack's default 256 MB on an 8-CPU host: not 17
    assert workers(8, 512) == 5
    assert workers(8, 1024) == 13
    assert workers(1, 512) == 3
    assert workers(8, 100) == 1  # never fewer than one


def test_one_image_decode_fits_beside_the_workers():
    for memory in (256, 384, 512, 1024, 4096):
        workers = web.default_workers(8, memory)
        assert web.BASE_MB + workers * web.WORKER_MB + web.decode_mb(memory, workers) <= memory
    assert web.decode_mb(None, 17) == web.decode_mb(512, 5) == web.DECODE_MB
    assert web.decode_mb(512, 20) == 32  # WEB_CONCURRENCY beyond the limit: small images still pass
