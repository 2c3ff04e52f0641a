"""A real SMTP server for the tests (Debian's python3-aiosmtpd), on 127.0.0.1 only.

By default it requires STARTTLS before anything but EHLO, and AUTH (PLAIN or LOGIN, offered only
over TLS) with the username and password given, before it takes any mail. Every message it
takes is written to --maildir as N.eml (the data exactly as received, after SMTP's dot-stuffing
is undone) and N.json (envelope sender, recipients, whether TLS and AUTH were in force, when its
DATA was in).
--maildir/events.log gets one line per EHLO, STARTTLS, AUTH, MAIL, RCPT and DATA, so a test can
tell what a client did, e.g. that it never tried AUTH in plaintext. It never logs a password.

Modes:
  --tls starttls   STARTTLS offered and required (default)
  --tls implicit   TLS from the first byte (smtps); AUTH required
  --tls none       no TLS at all, and AUTH offered in plaintext: a client that falls back to
                   plaintext would be let in, which is what a test of "never falls back" needs
  --stall          accept connections and never say a word (for timeouts)
  --no-service     greet every connection with "554 5.3.2 no service" and close it
  --reject ADDR    answer RCPT TO:<ADDR> with 550 (repeatable)
  --tempfail ADDR  answer RCPT TO:<ADDR> with 451 (repeatable)
  --data-reply "CODE TEXT"  answer the end of DATA with this instead of 250
  --rcpt-reply "CODE TEXT"  answer every RCPT with this (a relay refusing us by policy)
  --mail-reply "CODE TEXT"  answer MAIL FROM with this (our sender or host refused)
  --data-delay SECONDS     take the message, then wait this long before answering the end of
                   DATA (a relay that scans content; RFC 5321 allows it 10 minutes)

Run it with /usr/bin/python3 (Debian's, where python3-aiosmtpd is installed). It writes
--ready FILE once it listens, and exits by itself after --seconds.
"""
import argparse
import asyncio
import itertools
import json
import os
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--ready", help="file to create once listening")
    p.add_argument("--tls", choices=["starttls", "implicit", "none"], default="starttls")
    p.add_argument("--cert", help="server certificate (PEM); needed unless --tls none")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--reject", action="append", default=[], metavar="ADDR")
    p.add_argument("--tempfail", action="append", default=[], metavar="ADDR")
    p.add_argument("--data-reply", metavar="'CODE TEXT'")
    p.add_argument("--data-delay", type=float, default=0, metavar="SECONDS")
    p.add_argument("--rcpt-reply", metavar="'CODE TEXT'")
    p.add_argument("--mail-reply", metavar="'CODE TEXT'")
    p.add_argument("--stall", action="store_true")
    p.add_argument("--no-service", action="store_true")
    a = p.parse_args()
    if a.tls != "none" and not (a.cert and a.key):
        p.error("--cert and --key are needed unless --tls none")
    return a


class Recorder:
    """Writes what clients did and the mail they sent; one instance per server."""

    def __init__(self, maildir):
        self.maildir = maildir
        self.counter = itertools.count(1)
        os.makedirs(maildir, exist_ok=True)

    @staticmethod
    def is_tls(server, session):
        # session.ssl is set by STARTTLS only; with implicit TLS the transport itself is TLS
        return session.ssl is not None or \
            server.transport.get_extra_info("ssl_object") is not None

    def event(self, server, session, what):
        tls = "tls" if self.is_tls(server, session) else "plain"
        with open(os.path.join(self.maildir, "events.log"), "a", encoding="utf-8") as f:
            f.write(f"{what} {tls}\n")

    def message(self, server, session, envelope):
        n = next(self.counter)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": self.is_tls(server, session),
            "authenticated": bool(session.authenticated),
            "login": session.auth_data.login.decode("utf-8", "replace")
            if isinstance(session.auth_data, LoginPassword) else None,
            # when its DATA was in: with --data-delay, whether messages overlapped
            "received_at": time.time(),
        }
        # written under a temporary name, so a reader never sees half a message
        for ext, data in (("eml", envelope.original_content),
                          ("json", json.dumps(meta).encode("utf-8"))):
            path = os.path.join(self.maildir, f"{n}.{ext}")
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)


class Handler:
    def __init__(self, args, rec):
        self.args = args
        self.rec = rec
        self.reject = {a.lower() for a in args.reject}
        self.tempfail = {a.lower() for a in args.tempfail}

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.rec.event(server, session, "ehlo")
        # the name the client gave, a line each, apart from events.log's fixed two fields
        with open(os.path.join(self.rec.maildir, "ehlo.log"), "a", encoding="utf-8") as f:
            f.write(hostname + "\n")
        return responses

    def handle_STARTTLS(self, server, session, envelope):
        # aiosmtpd calls this one without awaiting it: it must not be a coroutine
        self.rec.event(server, session, "starttls")
        return True

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.rec.event(server, session, "mail")
        if self.args.mail_reply:
            return self.args.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rec.event(server, session, "rcpt")
        if self.args.rcpt_reply:
            return self.args.rcpt_reply
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unknown"
        if address.lower() in self.tempfail:
            return f"451 4.3.0 <{address}>: temporary failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.rec.event(server, session, "data")
        if self.args.data_reply:
            return self.args.data_reply
        self.rec.message(server, session, envelope)
        if self.args.data_delay:
            self.rec.event(server, session, "data-held")
            await asyncio.sleep(self.args.data_delay)
        return "250 2.0.0 OK: queued"


def make_authenticator(args, rec):
    want = (args.user.encode("utf-8"), args.password.encode("utf-8"))

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == want
        rec.event(server, session, f"auth-{mechanism.lower()}-{'ok' if ok else 'refused'}")
        # handled=False: aiosmtpd answers a failure with 535 itself
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


def tls_context(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


async def serve(args):
    rec = Recorder(args.maildir)
    loop = asyncio.get_running_loop()
    if args.stall:
        async def stall(reader, writer):
            await asyncio.sleep(args.seconds)
            writer.close()
        server = await asyncio.start_server(stall, "127.0.0.1", args.port)
    elif args.no_service:
        async def refuse(reader, writer):
            writer.write(b"554 5.3.2 smtp.test.invalid no service here\r\n")
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(refuse, "127.0.0.1", args.port)
    else:
        handler = Handler(args, rec)
        auth = make_authenticator(args, rec)
        ctx = tls_context(args) if args.tls != "none" else None

        def factory():
            return SMTP(
                handler,
                hostname="smtp.test.invalid",
                decode_data=False,
                tls_context=ctx if args.tls == "starttls" else None,
                require_starttls=args.tls == "starttls",
                auth_required=True,
                # with implicit TLS aiosmtpd does not see STARTTLS, yet every byte is encrypted;
                # with "none" AUTH is offered in plaintext on purpose (see the docstring)
                auth_require_tls=args.tls == "starttls",
                authenticator=auth,
                loop=loop,
            )
        server = await loop.create_server(factory, "127.0.0.1", args.port,
                                          ssl=ctx if args.tls == "implicit" else None)
    if args.ready:
        with open(args.ready, "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
    try:
        await asyncio.sleep(args.seconds)
    finally:
        server.close()


def main():
    args = parse_args()
    # aiosmtpd 1.4 warns about its own use of session.login_data on every AUTH
    warnings.simplefilter("ignore")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
