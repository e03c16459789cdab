#!/usr/bin/env python3
"""A tiny SMTP dialogue for the mail lab: EHLO, [STARTTLS, EHLO,] MAIL FROM,
RCPT TO, QUIT. Never DATA. Prints the reply to the last command it sent,
on one line: "CODE TEXT", e.g. "550 5.1.1 <x@y>: Recipient address rejected: ...".

  smtpcheck.py HOST RCPT [--starttls] [--cafile PEM] [--from ADDR] [--port 25]
               [--servername NAME] [--timeout S] [--expect PREFIX]
               [--source IP] [--socks HOST:PORT [--socks-user U --socks-pass P]]
               [--banner]

With --cafile the server's certificate is verified against PEM and NAME
(default HOST); without it, any certificate is accepted.

--source binds the client socket to IP (e.g. one of LAB_SOURCE_IPS). --socks
connects through a SOCKS5 proxy (RFC 1928, CONNECT; with --socks-user, RFC 1929
username/password, else no authentication); HOST is sent to the proxy as an
address or, if it is a name, as a name the proxy resolves. A SOCKS failure is
printed as "ERR SocksError: ...". --banner stops after the greeting and prints it.

With --expect, exits 0 when the printed reply starts with PREFIX and 1 when not.
Run it inside the lab: ip netns exec mslab lab/smtpcheck.py 10.25.0.10 alice@mailbox.mailsift-lab.net
"""

import argparse
import ipaddress
import smtplib
import socket
import ssl
import struct
import sys


class SocksError(OSError):
    pass


def split_hostport(text, default_port):
    """HOST, [V6]:PORT, V4:PORT or NAME:PORT -> (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SocksError("proxy closed the connection")
        data += chunk
    return data


SOCKS_REPLIES = {1: "general failure", 2: "connection not allowed by ruleset", 3: "network unreachable",
                 4: "host unreachable", 5: "connection refused", 6: "TTL expired",
                 7: "command not supported", 8: "address type not supported"}


def socks5_connect(proxy, host, port, timeout, user=None, password=None, source=None):
    """A TCP connection to host:port through the SOCKS5 proxy (host, port)."""
    sock = socket.create_connection(proxy, timeout, source_address=(source, 0) if source else None)
    try:
        methods = b"\x02" if user is not None else b"\x00"
        sock.sendall(b"\x05\x01" + methods)
        ver, method = recv_exact(sock, 2)
        if ver != 5 or method == 0xFF:
            raise SocksError(f"no acceptable authentication method (version {ver}, method {method:#x})")
        if method == 2:
            if user is None:
                raise SocksError("proxy wants username/password")
            u, p = user.encode(), (password or "").encode()
            sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
            _, status = recv_exact(sock, 2)
            if status != 0:
                raise SocksError(f"authentication failed (status {status})")
        elif method != 0:
            raise SocksError(f"proxy chose method {method:#x}")
        try:
            ip = ipaddress.ip_address(host)
            addr = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
        except ValueError:
            name = host.encode("idna")
            addr = b"\x03" + bytes([len(name)]) + name
        sock.sendall(b"\x05\x01\x00" + addr + struct.pack("!H", port))
        ver, rep, _, atyp = recv_exact(sock, 4)
        if rep != 0:
            raise SocksError(f"CONNECT refused: {rep} {SOCKS_REPLIES.get(rep, '?')}")
        recv_exact(sock, {1: 4, 4: 16}.get(atyp) or recv_exact(sock, 1)[0])
        recv_exact(sock, 2)
        return sock
    except BaseException:
        sock.close()
        raise


class LabSMTP(smtplib.SMTP):
    """smtplib.SMTP that can go through a SOCKS5 proxy."""

    def __init__(self, args):
        self.args = args
        super().__init__(timeout=args.timeout, source_address=(args.source, 0) if args.source else None)

    def _get_socket(self, host, port, timeout):
        if not self.args.socks:
            return super()._get_socket(host, port, timeout)
        return socks5_connect(split_hostport(self.args.socks, 1080), host, port, timeout,
                              self.args.socks_user, self.args.socks_pass, self.args.source)


def reply(code, msg):
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {' '.join(text.split())}"


def dialogue(args):
    smtp = LabSMTP(args)
    smtp._host = args.servername or args.host  # the TLS server name (SNI, verification)
    try:
        code, msg = smtp.connect(args.host, args.port)
        if code != 220 or args.banner:
            return reply(code, msg)
        code, msg = smtp.ehlo("probe.mailsift-lab.net")
        if code != 250:
            return reply(code, msg)
        if args.starttls:
            context = ssl.create_default_context(cafile=args.cafile) if args.cafile else ssl._create_unverified_context()
            code, msg = smtp.starttls(context=context)
            if code != 220:
                return reply(code, msg)
            code, msg = smtp.ehlo("probe.mailsift-lab.net")
            if code != 250:
                return reply(code, msg)
        code, msg = smtp.mail(args.mail_from)
        if code != 250:
            return reply(code, msg)
        code, msg = smtp.rcpt(args.rcpt)
        return reply(code, msg)
    except (OSError, ValueError, smtplib.SMTPException) as exc:
        return f"ERR {type(exc).__name__}: {exc}"
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("rcpt")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--from", dest="mail_from", default="probe@mailsift-lab.net")
    parser.add_argument("--starttls", action="store_true")
    parser.add_argument("--cafile")
    parser.add_argument("--servername")
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--expect")
    parser.add_argument("--source")
    parser.add_argument("--socks")
    parser.add_argument("--socks-user")
    parser.add_argument("--socks-pass")
    parser.add_argument("--banner", action="store_true")
    args = parser.parse_args()
    socket.setdefaulttimeout(args.timeout)
    line = dialogue(args)
    print(line)
    if args.expect is not None and not line.startswith(args.expect):
        sys.exit(1)


if __name__ == "__main__":
    main()
