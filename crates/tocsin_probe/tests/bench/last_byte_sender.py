"""Hand-written last-byte sender: all but the final byte on every connection, then one
thread writes the final bytes in a loop."""
import socket
import sys

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks, reqs = [], []
for i in range(n):
    body = f"payload-{i}".encode()
    req = (
        f"POST /r/{i} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(req[:-1])
    socks.append(s)
    reqs.append(req)
for s, req in zip(socks, reqs):
    s.send(req[-1:])
ok = 0
for s in socks:
    s.settimeout(10)
    if s.recv(64).startswith(b"HTTP/1.1 200"):
        ok += 1
    s.close()
print(ok)
