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
  --smtp ADDR:PORT:MODE  a scripted SMTP server with sender checks (no PIPELINING,
                         no STARTTLS, never takes DATA). Mailboxes: alice and bob
                         at any domain (250 2.1.5), anyone else 550 5.1.1. MODE is
                         nonull   refuses the null reverse-path at MAIL with
                                  "501 bogus mail from" (IPSwitch IMail's "Refuse
                                  NULL <> Senders" setting, as quoted by Gordano's
                                  knowledge base), any other sender is accepted
                         callout  verifies the sender at RCPT like Exim's
                                  "verify = sender/callout": <> passes; otherwise
                                  MX (else A) of the sender's domain through the
                                  lab resolver (kdig), then EHLO, MAIL FROM:<>,
                                  RCPT TO:<sender> there; no route or a 5xx there
                                  gives Exim's "550 Sender verify failed" reply

ADDR may be an IPv6 address in brackets: [fd00:53::2]:53:servfail.
"""

import argparse
import selectors
import signal
import smtplib
import socket
import socketserver
import struct
import subprocess
import sys
import threading

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


SMTP_USERS = ("alice", "bob")


def lookup(kind, name):
    """MX or A records of `name` through the lab resolver (kdig +short); [] when none."""
    try:
        out = subprocess.run(["kdig", "+short", "+time=2", "+retry=0", kind, name],
                             capture_output=True, timeout=5, text=True).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = [l.split() for l in out.splitlines() if l.strip() and not l.startswith(";")]
    if kind == "MX":
        return [r[1].rstrip(".") for r in sorted(rows, key=lambda r: int(r[0])) if len(r) == 2 and r[1] != "."]
    return [r[0] for r in rows if r and r[0][0].isdigit()]


def callout(sender):
    """Exim-style sender verification: None when it passes, else the multi-line 550 reply."""
    domain = sender.rpartition("@")[2]
    hosts = lookup("MX", domain) or [domain]
    addrs = [a for h in hosts for a in lookup("A", h)]
    fail = f"550-Verification failed for <{sender}>\r\n"
    if not addrs:
        return fail + "550-Unrouteable address\r\n550 Sender verify failed\r\n"
    try:
        with smtplib.SMTP(addrs[0], 25, local_hostname="smtp-callout.mailsift-lab.net", timeout=5) as c:
            c.ehlo()
            c.mail("")
            code, text = c.rcpt(sender)
    except (OSError, smtplib.SMTPException) as e:
        return f"451-Could not complete sender verify callout\r\n451 {type(e).__name__}\r\n"
    if code < 300:
        return None
    first = text.decode(errors="replace").splitlines()[0] if text else ""
    lead = "550" if code >= 500 else "451"
    return (f"{lead}-Verification failed for <{sender}>\r\n{lead}-Called:   {addrs[0]}\r\n"
            f"{lead}-Sent:     RCPT TO:<{sender}>\r\n{lead}-Response: {code} {first}\r\n"
            f"{lead} Sender verify failed\r\n")


class SmtpHandler(socketserver.StreamRequestHandler):
    """One scripted SMTP session; the mode is the server's `mode` attribute."""
    timeout = 30

    def reply(self, text):
        self.wfile.write(text.encode() if text.endswith("\r\n") else (text + "\r\n").encode())

    def handle(self):
        mode = self.server.mode
        self.reply("220 fake.mailsift-lab.net ESMTP fakesrv " + mode)
        sender = None
        verified = {}
        while True:
            line = self.rfile.readline(1024)
            if not line:
                return
            cmd = line.decode(errors="replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            arg = cmd.partition(":")[2].strip()
            path = arg[1:arg.find(">")] if arg.startswith("<") and ">" in arg else None
            if verb == "EHLO":
                self.reply("250-fake.mailsift-lab.net\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
            elif verb == "HELO":
                self.reply("250 fake.mailsift-lab.net")
            elif verb == "MAIL":
                if path is None:
                    self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
                elif mode == "nonull" and path == "":
                    self.reply("501 bogus mail from")
                else:
                    sender = path
                    self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                if sender is None:
                    self.reply("503 5.5.1 Error: need MAIL command")
                    continue
                if mode == "callout" and sender != "":
                    if sender not in verified:
                        verified[sender] = callout(sender)
                    if verified[sender] is not None:
                        self.reply(verified[sender])
                        continue
                local = (path or "").rpartition("@")[0].lower()
                if local in SMTP_USERS:
                    self.reply("250 2.1.5 Ok")
                else:
                    self.reply(f"550 5.1.1 <{path}>: Recipient address rejected: User unknown")
            elif verb == "RSET":
                sender = None
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, spec):
        family, host, port, mode = split_addr(spec)
        if mode not in ("nonull", "callout"):
            raise SystemExit(f"fakesrv: unknown SMTP mode {mode!r}")
        self.address_family = family
        self.mode = mode
        super().__init__((host, port), SmtpHandler)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dns", action="append", default=[])
    parser.add_argument("--silent", action="append", default=[])
    parser.add_argument("--smtp", action="append", default=[])
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = Server()
    for spec in args.dns:
        server.add_dns(spec)
    for spec in args.silent:
        server.add_silent(spec)
    for spec in args.smtp:
        threading.Thread(target=SmtpServer(spec).serve_forever, daemon=True).start()
    print("fakesrv: ready", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
