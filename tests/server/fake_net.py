"""Scripted DNS and SMTP on loopback for the real-time budget test and its measurement
(tests/server/realtime_test.py, bench/realtime-latency.py). Nothing here answers anything but
127.0.0.0/8, and `mailsift serve` is pointed at it with --dns-server and --smtp-port.

DNS (UDP on 127.0.0.1), by name:
  *.dns-tarpit.org              never answered (a DNS tarpit)
  d<N>.smtp-tarpit.org          no MX (so the domain is its own MX, RFC 5321 §5.1), A 127.0.1.<N % 100 + 1>
  live-mail.org, *.live-mail.org no MX, A 127.0.0.1
  anything else                 NXDOMAIN
SMTP on one port: 127.0.0.1 answers (mailbox `alice` exists at every domain, every other one is
refused); 127.0.1.1-127.0.1.100 accept connections and never say anything (SMTP tarpits).
"""
import asyncio
import socket
import struct
import threading

# Enough silent hosts that their per-host caps (--host-concurrency 5) exceed the default
# --smtp-concurrency (256): the job, not politeness, is what fills the session slots.
TARPIT_HOSTS = 100


def _qname(data):
    i, labels = 12, []
    while i < len(data) and data[i] != 0:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode(errors="replace"))
        i += 1 + n
    qtype = struct.unpack(">H", data[i + 1:i + 3])[0] if i + 3 <= len(data) else 0
    return ".".join(labels).lower(), qtype, i + 5


def tarpit_address(n):
    return f"127.0.1.{n % TARPIT_HOSTS + 1}"


class FakeDns:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _address(self, name):
        if name == "live-mail.org" or name.endswith(".live-mail.org"):
            return "127.0.0.1"
        if name.endswith(".smtp-tarpit.org") and name.startswith("d"):
            head = name.split(".", 1)[0][1:]
            if head.isdigit():
                return tarpit_address(int(head))
        return None

    def _run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            self.queries += 1
            name, qtype, end = _qname(data)
            if name.endswith(".dns-tarpit.org"):
                continue
            qid, flags = struct.unpack(">HH", data[:4])
            base = name[len("_dmarc."):] if name.startswith("_dmarc.") else name
            known = self._address(base) is not None and not name.startswith("_dmarc.")
            rcode = 0 if known else 3
            answer = b""
            ancount = 0
            if known and qtype == 1:
                answer = struct.pack(">HHHIH", 0xC00C, 1, 1, 300, 4) + socket.inet_aton(self._address(name))
                ancount = 1
            rflags = 0x8000 | (flags & 0x0100) | 0x0080 | rcode
            self.sock.sendto(struct.pack(">HHHHHH", qid, rflags, 1, ancount, 0, 0) + data[12:end] + answer, peer)

    def close(self):
        self.sock.close()


class FakeSmtp:
    """The answering server on 127.0.0.1:port and the tarpits on 127.0.1.x:port."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.live_sessions = 0
        self.tarpit_connections = 0
        ready = threading.Event()
        threading.Thread(target=self._thread, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _thread(self, ready):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        ready.set()
        self.loop.run_forever()

    async def _start(self):
        live = await asyncio.start_server(self._live, "127.0.0.1", 0)
        self.port = live.sockets[0].getsockname()[1]
        self.servers = [live]
        for n in range(TARPIT_HOSTS):
            self.servers.append(await asyncio.start_server(self._tarpit, tarpit_address(n), self.port))

    async def _tarpit(self, reader, writer):
        self.tarpit_connections += 1
        try:
            while await reader.read(4096):  # never a word back; hold on until the client leaves
                pass
        finally:
            writer.close()

    async def _live(self, reader, writer):
        self.live_sessions += 1
        writer.write(b"220 live-mail.org ESMTP\r\n")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode(errors="replace").strip().upper()
                if cmd.startswith(("EHLO", "HELO")):
                    writer.write(b"250 live-mail.org\r\n")
                elif cmd.startswith("MAIL"):
                    writer.write(b"250 2.1.0 Ok\r\n")
                elif cmd.startswith("RCPT"):
                    ok = "<ALICE@" in cmd
                    writer.write(b"250 2.1.5 Ok\r\n" if ok else b"550 5.1.1 No such user\r\n")
                elif cmd.startswith("RSET"):
                    writer.write(b"250 2.0.0 Ok\r\n")
                elif cmd.startswith("QUIT"):
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"502 5.5.2 Error\r\n")
                await writer.drain()
        finally:
            writer.close()
