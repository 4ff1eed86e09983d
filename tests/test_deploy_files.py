"""The deployment files agree with each other: the ports, the commands, the timeouts.

nginx.conf, the Dockerfile and docker-compose.yml are declarative and cannot read one
another, so this test holds them to the same numbers and paths.
"""

import os
import re

from exampleproject import web
from tests.servers import HTTP_PORT, PROXY_PORT, ROOT

NGINX = (ROOT / "conf" / "nginx.conf").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "docker-compose.yml").read_text()


def test_ports_agree():
    assert set(re.findall(r"^\s*listen (\d+)", NGINX, re.M)) == {str(HTTP_PORT), str(PROXY_PORT)}
    assert re.search(rf"listen {PROXY_PORT} proxy_protocol", NGINX)
    assert re.search(r"^EXPOSE (.+)$", DOCKERFILE, re.M).group(1).split() == [str(HTTP_PORT), str(PROXY_PORT)]
    assert f"- 80:{HTTP_PORT}" in COMPOSE and f"- 443:{PROXY_PORT}" in COMPOSE
    assert "convox.port.443.protocol=tls" in COMPOSE and "convox.port.443.proxy=true" in COMPOSE


def test_commands_exist():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)
    assert procfile == {"web": "bin/gunicorn", "worker": "bin/worker", "release": "bin/release"}
    for command in procfile.values():
        assert os.access(ROOT / command, os.X_OK)
    assert 'CMD ["bin/web"]' in DOCKERFILE
    assert "command: bin/web" in COMPOSE and "command: bin/worker" in COMPOSE


def test_timeouts_fit_together():
    idle = int(re.search(r"convox\.idle\.timeout=(\d+)", COMPOSE).group(1))
    draining = int(re.search(r"convox\.draining\.timeout=(\d+)", COMPOSE).group(1))
    grace = int(re.search(r"stop_grace_period: (\d+)s", COMPOSE).group(1))
    from exampleproject.management.commands.nginxconf import nginx_values, render

    proxy_read = int(re.search(r"proxy_read_timeout (\d+)s;", render(nginx_values())["nginx.conf"]).group(1))
    # The balancer's TCP/SSL listeners cut a connection silent for `idle` seconds: longer
    # than nginx waits for a response, so a slow request ends at gunicorn or nginx (504),
    # never cut off mid-request by the balancer.
    assert web.TIMEOUT < proxy_read < idle
    assert draining > web.TIMEOUT  # requests in flight finish while draining
    assert web.GRACEFUL_TIMEOUT < grace <= 30  # stop finishes before SIGKILL (ECS: 30 s)


def test_health_checks_ask_for_liveness():
    """The image's HEALTHCHECK reads the path from exampleproject.web; Convox's label, being YAML, is held to it."""
    from exampleproject.web import LIVENESS

    healthcheck = re.search(r"^HEALTHCHECK .*?\]$", DOCKERFILE, re.M | re.S).group()
    assert "from exampleproject.web import LIVENESS" in healthcheck
    assert f"'http://127.0.0.1:{HTTP_PORT}' + LIVENESS" in healthcheck
    assert f"- convox.health.path={LIVENESS}\n" in COMPOSE


def test_every_platform_runs_a_worker():
    """The task worker, from the web's image, on each platform: no port, no balancer, no check of
    nginx (which it does not run), a grace period for the running task, and a count of its own."""
    import json

    import yaml

    app = json.loads((ROOT / "app.json").read_text())
    assert app["formation"]["worker"]["quantity"] >= 1
    compose = yaml.safe_load(COMPOSE)["services"]["worker"]
    override = yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())["services"]
    assert compose["command"] == "bin/worker" and not {"ports", "labels"} & set(compose)

    def but_the_balancer(environment):  # who may open 4001 is the web's alone
        return [item for item in environment if not item.startswith("WEB_BALANCER_IPS=")]

    assert compose["environment"][2:] == but_the_balancer(yaml.safe_load(COMPOSE)["services"]["web"]["environment"][2:])
    assert override["worker"]["environment"] == but_the_balancer(override["web"]["environment"])
    convox = yaml.safe_load((ROOT / "convox.yml").read_text())["services"]["worker"]
    assert convox["command"] == "bin/worker" and not {"port", "ports", "health"} & set(convox)
    stack = yaml.safe_load((ROOT / "docker-stack.yml").read_text())["services"]
    assert stack["worker"]["command"] == "bin/worker" and "ports" not in stack["worker"]
    assert (
        stack["worker"]["environment"].items()
        <= {**stack["web"]["environment"], "ALLOWED_HOSTS": "${ALLOWED_HOSTS}"}.items()
    )
    assert stack["worker"]["secrets"] == stack["web"]["secrets"]
    for service in (compose, stack["worker"]):
        assert service["healthcheck"] == {"disable": True}
        assert service["stop_grace_period"] == "30s"
    assert convox["termination"]["grace"] == 30
