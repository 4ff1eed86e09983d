"""The guestbook in the image: signed with a photo through 4001, re-encoded by the image's
trimmed Pillow, stored in /app/data/media and served by nginx. The image itself, whatever
the app, is tested in tests/test_image.py."""

import json
import time

from exampleapp.tests.guestbook import (
    COSTLIEST,
    MARKER,
    costliest,
    image_src,
    megapixels_allowed,
    signed_post,
    with_metadata,
)
from tests.servers import PRODUCTION_ENV, PROXY_LINE, PROXY_PORT, ROOT, container_name, http_request, raw_request
from tests.test_image import container, docker, docker_daemon, gunicorn_workers, image, wait_healthy  # noqa: F401
from tests.test_media import make_image, opened


def test_container_stores_and_serves_images(container):
    photo = make_image(size=(3000, 2000), gps=True, orientation=6, quality=95)
    assert raw_request(PROXY_PORT, signed_post("Pictured", image=photo), PROXY_LINE)[0] == 302
    src = image_src(raw_request(PROXY_PORT, http_request("GET", "/"), PROXY_LINE)[2])
    status, headers, body = raw_request(PROXY_PORT, http_request("GET", src), PROXY_LINE)
    # Turned upright (EXIF orientation), scaled to 2048 px, its metadata dropped.
    assert status == 200 and opened(body).size == (1365, 2048) and not opened(body).getexif()
    assert headers["content-security-policy"] == ["default-src 'none'; sandbox"]
    listing = docker("exec", container, "ls", "/app/data/media/entries").stdout.split()
    assert src.rsplit("/", 1)[1] in listing


def test_container_stores_image_data_only(container):
    """The image's trimmed Pillow converts a profile to sRGB and drops every metadata slot."""
    for fmt in ("JPEG", "PNG", "WEBP"):
        assert raw_request(PROXY_PORT, signed_post("Marked", image=with_metadata(fmt)), PROXY_LINE)[0] == 302
        src = image_src(raw_request(PROXY_PORT, http_request("GET", "/"), PROXY_LINE)[2])
        status, _, body = raw_request(PROXY_PORT, http_request("GET", src), PROXY_LINE)
        assert status == 200 and opened(body).format == fmt and MARKER not in body
        assert "icc_profile" not in opened(body).info


def test_the_costliest_uploads_at_once_kill_no_worker(image):
    """The image under the memory limit the manifests declare (docker-compose.yml's mem_limit, the
    512 of convox.yml and docker-stack.yml), sent every costliest kind of upload at once, each from its
    own address: at 40 megapixels (refused from its header) and just under the limit its refusal names
    (decoded, one at a time): no worker killed, no 502, and the page answers meanwhile."""
    import threading

    import yaml

    limit = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["mem_limit"]
    name = container_name("memory")
    # Its balancer is this test, through docker-proxy, from the bridge network's gateway.
    balancer = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    environ = dict(PRODUCTION_ENV, RELEASE_ON_START="true", WEB_BALANCER_IPS=balancer)
    environ = [f"--env={k}={v}" for k, v in environ.items()]
    docker("run", "-d", "--name", name, "--memory", limit, "--memory-swap", limit, "-p", f"127.0.0.1::{PROXY_PORT}",
           *environ, image)  # fmt: skip
    try:
        wait_healthy(name)
        port = int(docker("port", name, f"{PROXY_PORT}/tcp").stdout.split()[0].rsplit(":", 1)[1])
        workers = gunicorn_workers(name)[0]
        uploads = []
        for number, kind in enumerate(COSTLIEST):
            whole, _ = costliest(kind, 39_900_000)
            refusal = raw_request(port, signed_post(kind, port, proxy_for(number), image=whole), proxy_for(number))
            allowed = megapixels_allowed(refusal[2])
            assert allowed, f"{kind}: {refusal[:2]}"
            uploads += [(kind, whole), (kind, costliest(kind, allowed * 0.97)[0])]
        posts = [signed_post(kind, port, proxy_for(n), image=data) for n, (kind, data) in enumerate(uploads)]
        answers, page_answers = {}, []

        def send(number):
            answers[number] = raw_request(port, posts[number], proxy_for(number), timeout=60)

        senders = [threading.Thread(target=send, args=(number,)) for number in range(len(posts))]
        for sender in senders:
            sender.start()
        while any(sender.is_alive() for sender in senders):
            for path in ("/", "/healthz"):
                started = time.monotonic()
                status = raw_request(port, http_request("GET", path), PROXY_LINE, timeout=30)[0]
                page_answers.append((path, status, round(time.monotonic() - started, 2)))
            time.sleep(0.2)
        for sender in senders:
            sender.join()
        outcomes = {}
        for number, (status, _, body) in sorted(answers.items()):
            outcome = "stored" if status == 302 else "refused" if megapixels_allowed(body) else body[:300]
            outcome = "busy" if b"Another image is being processed" in body else outcome
            outcomes[f"{uploads[number][0]} #{number % 2}"] = outcome
        # cgroup v2, else v1: the container's peak memory, and the OOM killer's count.
        memory = "cat /sys/fs/cgroup/memory.peak /sys/fs/cgroup/memory/memory.max_usage_in_bytes 2>/dev/null"
        peak = int(docker("exec", name, "sh", "-c", memory, check=False).stdout.split()[0]) / 2**20
        print(f"peak {peak:.0f} MB of {limit}", outcomes, page_answers)
        assert all(outcome in ("stored", "refused", "busy") for outcome in outcomes.values()), outcomes
        assert "stored" in outcomes.values(), outcomes
        # The page and the liveness probe answer within Convox's 3 s health timeout (docker-compose.yml).
        assert page_answers and all(status == 200 and seconds < 3 for _, status, seconds in page_answers), page_answers
        oom = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"
        assert "oom_kill 0" in docker("exec", name, "sh", "-c", oom, check=False).stdout
        assert not json.loads(docker("inspect", name).stdout)[0]["State"]["OOMKilled"]
        logs = docker("logs", name).stderr
        assert "SIGKILL" not in logs and "Worker exiting" not in logs, logs[-3000:]
        assert gunicorn_workers(name)[0] == workers
        # Told it was busy, a visitor sends the form again, and it is stored.
        for number, (_, _, body) in answers.items():
            if b"Another image is being processed" in body:
                post = signed_post("again", port, proxy_for(number), image=uploads[number][1])
                assert raw_request(port, post, proxy_for(number), timeout=60)[0] == 302, uploads[number][0]
    finally:
        docker("rm", "-f", name, check=False)


def proxy_for(number):
    """A PROXY line from a client address of its own."""
    return f"PROXY TCP4 198.51.100.{number + 1} 192.0.2.1 5{number:04d} 443\r\n".encode()
