#!/usr/bin/env python3
"""A tiny SMTP dialogue for the mail lab: EHLO, [STARTTLS, EHLO,] MAIL FROM,
RCPT TO, QUIT. Never DATA. Prints the reply to the last command it sent,
on one line: "CODE TEXT", e.g. "550 5.1.1 <x@y>: Recipient address rejected: ...".

  smtpcheck.py HOST RCPT [--starttls] [--cafile PEM] [--from ADDR] [--port 25]
               [--servername NAME] [--timeout S] [--expect PREFIX]

With --cafile the server's certificate is verified against PEM and NAME
(default HOST); without it, any certificate is accepted.

With --expect, exits 0 when the printed reply starts with PREFIX and 1 when not.
Run it inside the lab: ip netns exec mslab lab/smtpcheck.py 10.25.0.10 alice@mailbox.mailsift-lab.net
"""

import argparse
import smtplib
import socket
import ssl
import sys


def reply(code, msg):
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {' '.join(text.split())}"


def dialogue(args):
    smtp = smtplib.SMTP(timeout=args.timeout)
    smtp._host = args.servername or args.host  # the TLS server name (SNI, verification)
    try:
        code, msg = smtp.connect(args.host, args.port)
        if code != 220:
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
    args = parser.parse_args()
    socket.setdefaulttimeout(args.timeout)
    line = dialogue(args)
    print(line)
    if args.expect is not None and not line.startswith(args.expect):
        sys.exit(1)


if __name__ == "__main__":
    main()
