#!/usr/bin/python3
"""A mail server for Atalaya's e-mail tests, built on aiosmtpd (Debian:
python3-aiosmtpd): STARTTLS required before anything else, then AUTH
PLAIN or LOGIN required with one account, then every message accepted is
written to a folder.

Usage: smtp_server.py PORT CERT KEY USER PASSWORD FOLDER

PORT 0 takes a free one. Once listening it prints "listening PORT" on
stdout. Each message becomes FOLDER/N.eml (its bytes as received) beside
FOLDER/N.json (envelope sender and recipients, the login used), written
under a temporary name and renamed, so a reader never sees half a file.
"""

import asyncio
import itertools
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    port, cert, key, user, password, folder = sys.argv[1:7]
    os.makedirs(folder, exist_ok=True)
    counter = itertools.count(1)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd answers a refusal itself (535).
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            n = next(counter)
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "login": session.auth_data.login.decode()
                if isinstance(session.auth_data, LoginPassword)
                else None,
            }
            for name, data in (
                (f"{n}.json", json.dumps(meta).encode()),
                (f"{n}.eml", envelope.original_content or envelope.content),
            ):
                tmp = os.path.join(folder, f".{name}.tmp")
                with open(tmp, "wb") as f:
                    f.write(data)
                os.rename(tmp, os.path.join(folder, name))
            return "250 2.0.0 Message accepted"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def factory():
        return SMTP(
            Keep(),
            hostname="atalaya-test-smtp",
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticate,
        )

    async def serve():
        server = await asyncio.get_running_loop().create_server(
            factory, "127.0.0.1", int(port)
        )
        bound = server.sockets[0].getsockname()[1]
        print(f"listening {bound}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
