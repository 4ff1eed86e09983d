"""What `convox start` (generation 1) gives a service's container, ported from Convox's
own code (convox/rack pkg/manifest1) so that the tests can run the image the same way:

- yaml.go, Environment.UnmarshalYAML: in a list, "NAME" alone is needed (no value) and
  "NAME=value" has a default ("NAME=": an empty one).
- run.go, Run.Start: each line of .env that holds "=" is split at the first "=" and set
  in convox's own environment, as is: no quotes, no comments, no `export`. Then a needed
  variable missing from that environment stops it: "X, Y missing from .env file".
- process.go, Process.GenerateArgs: a needed variable becomes `-e NAME` (docker takes its
  value from convox's environment); any other, its value from that environment if set,
  else the manifest's default. Nothing else reaches the container from .env. mem_limit
  becomes `--memory` (yaml.go, Memory.UnmarshalYAML: docker/go-units RAMInBytes).

Links (the database's DATABASE_URL) and the convox/proxy balancer are left to the
docker-compose tests, which run the same links and ports.
"""

import re

import yaml

from tests.servers import ROOT


def load_service(name, path=ROOT / "docker-compose.yml"):
    return yaml.safe_load(path.read_text())["services"][name]


def environment(service):
    """[(name, default, needed)], as manifest1 reads a list-form environment."""
    items = []
    for item in service.get("environment", []):
        name, sep, value = item.partition("=")
        items.append((name, value, not sep))
    return items


def load_dotenv(text, environ):
    """run.go, Start: set each NAME=value line of .env in `environ`, verbatim."""
    for line in text.splitlines():
        if "=" in line:
            name, value = line.split("=", 1)
            environ[name] = value


def missing(service, environ):
    """run.go, Start: the needed variables that neither .env nor the shell set."""
    return sorted(name for name, value, needed in environment(service) if needed and not value and name not in environ)


def ram_in_bytes(value):
    """docker/go-units RAMInBytes for the forms a compose file uses: 512m, 1g, 268435456."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+)\s*([kmgt]?)i?b?", value.strip().lower())
    assert match, f"not a size: {value!r}"
    return int(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " ")


def docker_args(service, environ):
    """process.go, GenerateArgs: the environment and memory arguments of `docker run`."""
    args = []
    for name, default, needed in environment(service):
        if needed and not default:
            args += ["-e", name]
        else:
            args += ["-e", f"{name}={environ.get(name, default)}"]
    if service.get("mem_limit"):
        args += ["--memory", str(ram_in_bytes(service["mem_limit"]))]
    return args
