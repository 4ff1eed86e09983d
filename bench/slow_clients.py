"""Slow clients for bench/run.py, in a process of their own so that their CPU can be pinned or
measured apart: COUNT connections to 127.0.0.1:PORT that each send a request a byte every 100 ms,
read the reply, and start again, until killed. One thread sends a byte to every socket each tick
(a coroutine per client cost more CPU than the servers under test). Each page served whole (200)
prints the monotonic time it ended, so the bench counts the pages the server rendered for them."""

import contextlib
import socket
import sys
import time


def connect(port, request, start=0):
    """A client's socket with the first `start` bytes of its request sent, how many it has sent,
    and whether its reply so far says 200 (None before the reply)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if start:
        sock.sendall(request[:start])
    sock.setblocking(False)
    return [sock, start, None]


def run(port, count, path, headers, interval=0.1):
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n".encode()
    # Each client starts at its own point of the request, as independent clients would: their
    # requests end spread over the 100 ms ticks, not all 200 in one (docs/decisions.md, "Slow clients").
    clients = [connect(port, request, i * len(request) // count) for i in range(count)]
    print("connected", flush=True)
    while True:
        for client in clients:
            sock, sent, ok = client
            try:
                if sent < len(request):
                    client[1] += sock.send(request[sent : sent + 1])
                elif data := sock.recv(65536):
                    if ok is None:
                        client[2] = data.split(b" ", 2)[1:2] == [b"200"]
                else:  # the whole reply read: start again
                    if ok:
                        print(f"{time.monotonic():.3f}", flush=True)
                    sock.close()
                    client[:] = connect(port, request)
            except BlockingIOError:
                pass  # no reply yet
            except OSError:  # refused, reset, or cut off by a timeout: start again
                sock.close()
                with contextlib.suppress(OSError):
                    client[:] = connect(port, request)
        time.sleep(interval)


if __name__ == "__main__":
    port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    run(port, count, path, "".join(f"{h}\r\n" for h in sys.argv[4:]))
