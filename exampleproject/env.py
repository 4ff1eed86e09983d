"""Typed reads of environment variables for settings.py. A bad value records a problem and gives the
default; `Env.finish()` reports every problem at once. Blank counts as unset: docker-compose and
Convox gen1 pass optional variables as `NAME=` (docs/decisions.md, "Env, not environs")."""

import ipaddress
import os
from collections.abc import Mapping

BOOLEANS = dict.fromkeys(("1", "true", "yes", "on"), True) | dict.fromkeys(("0", "false", "no", "off"), False)

# Each may come from the file <NAME>_FILE names instead (docs/decisions.md, "Secrets from files").
SECRETS = ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "STORAGE_URL", "SENTRY_DSN")

GENERATE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


class Env:
    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.environ = environ
        self.problems: list[str] = []
        self.hint = ""  # a line after the problems, for the reader who may not be on a platform
        # A secret's file is read once: its value, or None once its one problem is recorded.
        self.from_files: dict[str, str | None] = {}

    def problem(self, name: str, text: str) -> None:
        """Record that variable `name` is wrong; `text` must not contain its value if secret."""
        if self.from_files.get(name, "") is not None:
            self.problems.append(f"{name}: {text}")

    def str(self, name: str, default=None):
        """The value, stripped; unset or blank gives `default`. A secret may come from <NAME>_FILE."""
        value = self.environ.get(name, "").strip()
        path = self.environ.get(f"{name}_FILE", "").strip() if name in SECRETS else ""
        if path and name not in self.from_files:
            self.from_files[name] = self._read_secret(name, path, also_set=bool(value))
        return (self.from_files[name] if path else value) or default

    def _read_secret(self, name: str, path: str, also_set: bool):
        """The file's contents, stripped; None after recording why it cannot be used (only its path)."""
        problem = f"both {name} and {name}_FILE are set; set only one of them"
        if not also_set:
            try:
                with open(path, encoding="utf-8") as file:
                    if value := file.read().strip():
                        return value
                problem = f"{path!r} is empty"
            except OSError as exc:
                problem = f"cannot read {path!r} ({exc.strerror or exc})"
            except UnicodeDecodeError:
                problem = f"{path!r} is not UTF-8 text"
        self.problem(f"{name}_FILE", problem)
        return None

    def url(self, name: str):
        """A URL that may carry credentials. One whose user or password holds a character that ends
        the authority (/ ? #) would be read wrongly, the rest of the secret as a host, path or query:
        None, after recording how to write it (never the value)."""
        value = self.str(name)
        rest = value.split("://", 1)[1] if value and "://" in value else ""
        end = min([rest.index(char) for char in "/?#" if char in rest], default=len(rest))
        if "@" in rest[end:]:
            self.problem(
                name,
                "a user name or password in it holds / ? or #, which end the host part: percent-encode "
                "them (/ as %2F, ? as %3F, # as %23, @ as %40, % as %25), e.g. with "
                "python -c \"import urllib.parse; print(urllib.parse.quote(input(), safe=''))\"",
            )
            return None
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.str(name, "")
        if raw and raw.lower() not in BOOLEANS:
            self.problem(name, f"expected true or false (also 1/0, yes/no, on/off), got {raw!r}")
        return BOOLEANS.get(raw.lower(), default)

    def int(self, name: str, default: int, minimum: int | None = None) -> int:
        raw = self.str(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            self.problem(name, f"expected a whole number, got {raw!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(name, f"must be {minimum} or more, got {value}")
            return default
        return value

    def float(self, name: str, default: float, minimum: float, maximum: float) -> float:
        raw = self.str(name)
        try:
            value = default if raw is None else float(raw)
        except ValueError:
            value = None
        if value is not None and minimum <= value <= maximum:
            return value
        self.problem(name, f"expected a number from {minimum:g} to {maximum:g}, got {raw!r}")
        return default

    def list(self, name: str, default=()) -> list:
        """Comma-separated; blanks around items and empty items are dropped."""
        raw = self.str(name)
        return list(default) if raw is None else [item.strip() for item in raw.split(",") if item.strip()]

    def networks(self, name: str, default: str) -> list:
        """Comma-separated IP addresses or networks in CIDR form (10.0.0.0/16, fd00::/8), as ipaddress reads them."""
        items = self.list(name, default.split(","))
        if not items:
            self.problem(name, "names no address")
        networks = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item))
            except ValueError as exc:
                why = exc if "/" in item else "not an IP address"
                self.problem(name, f"expected IP addresses or networks (10.0.0.0/16), comma-separated; {item!r}: {why}")
        return networks

    def choice(self, name: str, default: str, choices: list) -> str:
        """One of `choices`, in any case; returned as spelled in `choices`."""
        raw = self.str(name, "")
        spelled = {choice.lower(): choice for choice in choices}
        if raw and raw.lower() not in spelled:
            self.problem(name, f"expected one of {', '.join(choices)}, got {raw!r}")
        return spelled.get(raw.lower(), default)

    def finish(self) -> None:
        """Stop with one message listing every problem: SystemExit, not a traceback that buries it."""
        if self.problems:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            hint = f"\n{self.hint}" if self.hint else ""
            raise SystemExit(f"Configuration error: fix these environment variables and start again.\n{lines}{hint}")
