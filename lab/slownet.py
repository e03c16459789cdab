#!/usr/bin/env python3
"""A latency-bound little internet on loopback for the cluster benchmark (scripts/bench-cluster.sh):
the kernel has no netem, so the server itself waits before each reply, as a distant server's
round trip would.

DNS (UDP, 127.0.0.1:<dns port>):  d<N>.<parent>  no MX, A 127.0.2.<N % hosts + 1>, for the parents
                                  in PARENTS (an IDN among them); anything else NXDOMAIN
SMTP (127.0.2.1 … 127.0.2.<hosts>, one port): every reply after --delay ms; RCPT of a local part
starting with "ok." is accepted (never a catch-all test's random one), any other is refused
550 5.1.1. Counts sessions and the most
connections open at once per address.

Usage: slownet.py --hosts 50 --delay 50 [--duration 600]
Prints one JSON line {"dns": port, "smtp": port} when ready; on SIGTERM prints the counts as JSON.
Binds only 127.0.0.0/8 addresses: nothing here answers anything else.
"""
import argparse
import asyncio
import json
import signal
import socket
import struct
import sys

PARENTS = ("slow-mail.org", "slowpost.net", "xn--bcher-kva.net", "mail.slow-co.com.au")


def qname(data):
    i, labels = 12, []
    while i < len(data) and data[i] != 0:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode(errors="replace"))
        i += 1 + n
    qtype = struct.unpack(">H", data[i + 1:i + 3])[0] if i + 3 <= len(data) else 0
    return ".".join(labels).lower(), qtype, i + 5


class Dns(asyncio.DatagramProtocol):
    def __init__(self, hosts):
        self.hosts = hosts

    def connection_made(self, transport):
        self.t = transport

    def address(self, name):
        head, _, rest = name.partition(".")
        if rest in PARENTS and head.startswith("d") and head[1:].isdigit():
            return f"127.0.2.{int(head[1:]) % self.hosts + 1}"
        return None

    def datagram_received(self, data, peer):
        if len(data) < 12:
            return
        name, qtype, end = qname(data)
        qid, flags = struct.unpack(">HH", data[:4])
        a = self.address(name)
        answer, ancount = b"", 0
        if a and qtype == 1:
            answer, ancount = struct.pack(">HHHIH", 0xC00C, 1, 1, 300, 4) + socket.inet_aton(a), 1
        rflags = 0x8000 | (flags & 0x0100) | 0x0080 | (0 if a else 3)
        self.t.sendto(struct.pack(">HHHHHH", qid, rflags, 1, ancount, 0, 0) + data[12:end] + answer, peer)


class Smtp:
    def __init__(self, delay):
        self.delay = delay / 1000.0
        self.sessions = 0
        self.open = {}
        self.peak = {}

    async def reply(self, writer, text):
        await asyncio.sleep(self.delay)
        writer.write(text)
        await writer.drain()

    async def serve(self, reader, writer):
        local = writer.get_extra_info("sockname")[0]
        self.sessions += 1
        self.open[local] = self.open.get(local, 0) + 1
        self.peak[local] = max(self.peak.get(local, 0), self.open[local])
        try:
            await self.reply(writer, b"220 slow-mail.org ESMTP\r\n")
            while True:
                line = await asyncio.wait_for(reader.readline(), 60)
                if not line:
                    break
                cmd = line.decode(errors="replace").strip().upper()
                if cmd.startswith(("EHLO", "HELO")):
                    await self.reply(writer, b"250-slow-mail.org\r\n250 PIPELINING\r\n" if cmd.startswith("EHLO")
                                     else b"250 slow-mail.org\r\n")
                elif cmd.startswith("MAIL"):
                    await self.reply(writer, b"250 2.1.0 Ok\r\n")
                elif cmd.startswith("RCPT"):
                    ok = cmd.startswith("RCPT TO:<OK.")
                    await self.reply(writer, b"250 2.1.5 Ok\r\n" if ok else b"550 5.1.1 No such user\r\n")
                elif cmd.startswith("RSET"):
                    await self.reply(writer, b"250 2.0.0 Ok\r\n")
                elif cmd.startswith("QUIT"):
                    await self.reply(writer, b"221 2.0.0 Bye\r\n")
                    break
                else:
                    await self.reply(writer, b"502 5.5.2 Error\r\n")
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self.open[local] -= 1
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--delay", type=float, default=50.0, help="milliseconds before each reply")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds before it stops by itself")
    a = ap.parse_args()
    loop = asyncio.get_running_loop()
    dns_t, _ = await loop.create_datagram_endpoint(lambda: Dns(a.hosts), local_addr=("127.0.0.1", 0))
    smtp = Smtp(a.delay)
    first = await asyncio.start_server(smtp.serve, "127.0.2.1", 0, backlog=1024)
    port = first.sockets[0].getsockname()[1]
    servers = [first] + [await asyncio.start_server(smtp.serve, f"127.0.2.{n + 1}", port, backlog=1024)
                         for n in range(1, a.hosts)]
    print(json.dumps({"dns": dns_t.get_extra_info("sockname")[1], "smtp": port}), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), a.duration)
    except asyncio.TimeoutError:
        pass
    for s in servers:
        s.close()
    print(json.dumps({"sessions": smtp.sessions, "max_per_address": max(smtp.peak.values(), default=0),
                      "addresses": len(smtp.peak)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
