"""nginx's configuration (conf/nginx*.conf): its placeholders are the ones `manage.py nginxconf`
fills in, and what it writes passes the real `nginx -t` in every variant settings choose."""

import io
import re
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exampleproject import web
from exampleproject.management.commands import nginxconf
from tests.servers import ROOT, public_tmp_dir, require
from tests.test_settings import PRODUCTION

SOURCES = sorted((ROOT / "conf").glob("nginx*.conf"))


def test_the_sources_use_only_known_placeholders():
    known = nginxconf.nginx_values().keys()
    used = set()
    for source in SOURCES:
        text = source.read_text()
        names = nginxconf.PLACEHOLDER.findall(text)
        # Every ${ followed by a capital is a placeholder: no misspelt ${Static_ROOT} or ${RUN-DIR}.
        assert len(re.findall(r"\$\{[A-Z]", text)) == len(names), source.name
        assert set(names) <= known, source.name
        used |= set(names)
    assert used == known  # and no value is left unused


def test_an_unknown_placeholder_is_named(monkeypatch, tmp_path):
    (tmp_path / "nginx.conf").write_text("pid ${RUN_DIR}/nginx.pid;\nworker_processes ${WORKERS};\n")
    monkeypatch.setattr(nginxconf, "CONF_DIR", tmp_path)
    with pytest.raises(CommandError, match=r"^conf/nginx.conf: no value for WORKERS "):
        nginxconf.render({"RUN_DIR": "/tmp/web"})
    assert nginxconf.render({"RUN_DIR": "/tmp/web", "WORKERS": 2})["nginx.conf"] == (
        "pid /tmp/web/nginx.pid;\nworker_processes 2;\n"
    )


@pytest.mark.parametrize("redirect", ["true", "false"])
@pytest.mark.parametrize("storage", ["", "s3://k:s@bucket?region=eu-west-1"])
def test_the_written_configuration_passes_nginx_t(load_settings, monkeypatch, redirect, storage):
    """What bin/web starts nginx with, for each SECURE_SSL_REDIRECT and with local or S3
    media: `nginx -T` checks it and prints every file it read. nginx serves /media/ from
    MEDIA_ROOT only for local files; with S3, Django answers /media/."""
    require("nginx", "bin/web runs nginx in front of gunicorn (Debian package nginx)")
    run_dir = public_tmp_dir("nginx-t-")
    s = load_settings(**PRODUCTION, SECURE_SSL_REDIRECT=redirect, STORAGE_URL=storage)
    monkeypatch.setattr(nginxconf, "settings", type("Settings", (), {k: v for k, v in s.items() if k.isupper()}))
    monkeypatch.setattr(web, "RUN_DIR", str(run_dir))
    monkeypatch.setattr(web, "SOCKET_PATH", f"{run_dir}/gunicorn.sock")
    out = io.StringIO()
    call_command("nginxconf", stdout=out)
    assert out.getvalue().split() == [str(run_dir), f"{run_dir}/gunicorn.sock"]

    nginx = subprocess.run(
        ["nginx", "-T", "-e", "stderr", "-c", f"{run_dir}/nginx.conf"], capture_output=True, text=True
    )
    assert nginx.returncode == 0, nginx.stderr
    assert "test is successful" in nginx.stderr
    conf = nginx.stdout
    assert "${" not in conf.replace("${...}", "")  # every placeholder filled in
    assert f"server unix:{run_dir}/gunicorn.sock max_fails=0;" in conf
    assert f"client_max_body_size {2 * s['IMAGE_UPLOAD_MAX_BYTES']};" in conf
    assert f"alias {s['STATIC_ROOT']}/;" in conf
    assert re.search(r" 01 +(\d);", conf).group(1) == {"true": "1", "false": "0"}[redirect]
    local = not storage
    assert (f"alias {s['MEDIA_ROOT']}/;" in conf) is local
    assert f"# configuration file {run_dir}/nginx-media.conf:" in conf
    for name, value in web.MEDIA_HEADERS.items():  # the media view's headers (exampleproject/media.py)
        always = "" if name == "Cache-Control" else " always"  # a 404 is not cached; it is never sniffed
        assert (f'add_header {name} "{value}"{always};' in conf) is local
    media = (run_dir / "nginx-media.conf").read_text()
    assert (media == "include nginx-proxy.conf;\n") is not local  # with S3, Django answers /media/
    assert "/healthz 1; /readyz 1;" in conf  # the probes, never redirected
