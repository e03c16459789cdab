#!/usr/bin/env python3
"""Misbehaving servers for the mail lab (stdlib only).

Run by lab/up.sh inside the lab's network namespace; it binds only the
addresses it is given, which exist only there.

  --dns ADDR:PORT:MODE   a DNS server on UDP and TCP.  MODE is
                         servfail  answer every query with RCODE 2 (SERVFAIL)
                         refused   answer every query with RCODE 5 (REFUSED)
                         drop      read every query and never answer (timeout)
  --silent ADDR:PORT     a TCP server that accepts connections and never says
                         a word (an SMTP server that hangs before its greeting)

ADDR may be an IPv6 address in brackets: [fd00:53::2]:53:servfail.
"""

import argparse
import selectors
import signal
import socket
import struct
import sys

RCODES = {"servfail": 2, "refused": 5, "drop": None}


def split_addr(text):
    """'10.0.0.1:53' or '[fd00::1]:53' -> (family, host, port, rest)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]:")
        family = socket.AF_INET6
    else:
        host, _, rest = text.partition(":")
        family = socket.AF_INET
    port, _, extra = rest.partition(":")
    return family, host, int(port), extra


def dns_reply(query, rcode):
    """The same header and question, QR=1, RA=1, the given RCODE, no records."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000:  # a response: never answer those
        return None
    opcode_rd = flags & 0x7900  # opcode (bits 11-14) and RD (bit 8)
    new_flags = 0x8000 | opcode_rd | 0x0080 | rcode
    # Echo the question section (one question, as every resolver sends).
    pos = 12
    if qdcount == 1:
        while pos < len(query):
            length = query[pos]
            if length == 0:
                pos += 1
                break
            if length & 0xC0:
                pos += 2
                break
            pos += 1 + length
        pos += 4
        if pos > len(query):
            return None
        question = query[12:pos]
    else:
        question, qdcount = b"", 0
    return struct.pack("!HHHHHH", qid, new_flags, qdcount, 0, 0, 0) + question


class Server:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.buffers = {}

    def listen(self, family, kind, host, port):
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(64)
        sock.setblocking(False)
        return sock

    def add_dns(self, spec):
        family, host, port, mode = split_addr(spec)
        if mode not in RCODES:
            raise SystemExit(f"fakesrv: unknown DNS mode {mode!r}")
        rcode = RCODES[mode]
        udp = self.listen(family, socket.SOCK_DGRAM, host, port)
        tcp = self.listen(family, socket.SOCK_STREAM, host, port)
        self.sel.register(udp, selectors.EVENT_READ, ("udp", rcode))
        self.sel.register(tcp, selectors.EVENT_READ, ("accept-dns", rcode))

    def add_silent(self, spec):
        family, host, port, _ = split_addr(spec)
        tcp = self.listen(family, socket.SOCK_STREAM, host, port)
        self.sel.register(tcp, selectors.EVENT_READ, ("accept-silent", None))

    def close(self, sock):
        self.sel.unregister(sock)
        self.buffers.pop(sock, None)
        sock.close()

    def run(self):
        while True:
            for key, _ in self.sel.select():
                sock, (what, rcode) = key.fileobj, key.data
                try:
                    self.handle(sock, what, rcode)
                except OSError:
                    if what in ("tcp-dns", "silent"):
                        self.close(sock)

    def handle(self, sock, what, rcode):
        if what == "udp":
            data, peer = sock.recvfrom(65535)
            if rcode is not None:
                reply = dns_reply(data, rcode)
                if reply:
                    sock.sendto(reply, peer)
        elif what.startswith("accept-"):
            conn, _ = sock.accept()
            conn.setblocking(False)
            kind = "tcp-dns" if what == "accept-dns" else "silent"
            self.buffers[conn] = b""
            self.sel.register(conn, selectors.EVENT_READ, (kind, rcode))
        elif what == "tcp-dns":
            data = sock.recv(65535)
            if not data:
                self.close(sock)
                return
            buf = self.buffers[sock] + data
            while len(buf) >= 2:
                (length,) = struct.unpack("!H", buf[:2])
                if len(buf) < 2 + length:
                    break
                query, buf = buf[2 : 2 + length], buf[2 + length :]
                if rcode is not None:
                    reply = dns_reply(query, rcode)
                    if reply:
                        sock.setblocking(True)
                        sock.sendall(struct.pack("!H", len(reply)) + reply)
                        sock.setblocking(False)
            self.buffers[sock] = buf
        elif what == "silent":
            if not sock.recv(4096):  # read and ignore; close when the peer does
                self.close(sock)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dns", action="append", default=[])
    parser.add_argument("--silent", action="append", default=[])
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = Server()
    for spec in args.dns:
        server.add_dns(spec)
    for spec in args.silent:
        server.add_silent(spec)
    print("fakesrv: ready", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
