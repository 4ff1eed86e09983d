"""Django's deployment checklist passes with a production-like environment."""

from tests.servers import PRODUCTION_ENV
from tests.test_settings import run_manage


def test_check_deploy_has_no_warnings(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        environ={**PRODUCTION_ENV, "ALLOWED_HOSTS": "example.com", "DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
