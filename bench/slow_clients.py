"""Slow clients for bench/run.py, in a process of their own so that their CPU can be pinned or
measured apart: COUNT connections to 127.0.0.1:PORT that each send a request a byte every 100 ms,
read the reply, and start again, until killed. One thread sends a byte to every socket each tick
(a coroutine per client cost more CPU than the servers under test)."""

import contextlib
import socket
import sys
import time


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setblocking(False)
    return [sock, 0]  # the socket, and how many bytes of the request it has sent


def run(port, count, path, headers, interval=0.1):
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n".encode()
    clients = [connect(port) for _ in range(count)]
    print("connected", flush=True)
    while True:
        for client in clients:
            sock, sent = client
            try:
                if sent < len(request):
                    client[1] += sock.send(request[sent : sent + 1])
                elif not sock.recv(65536):  # the whole reply read: start again
                    sock.close()
                    client[:] = connect(port)
            except BlockingIOError:
                pass  # no reply yet
            except OSError:  # refused, reset, or cut off by a timeout: start again
                sock.close()
                with contextlib.suppress(OSError):
                    client[:] = connect(port)
        time.sleep(interval)


if __name__ == "__main__":
    port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    run(port, count, path, "".join(f"{h}\r\n" for h in sys.argv[4:]))
