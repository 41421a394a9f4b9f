"""Create Open WebUI's admin account from the environment when the instance has no user yet.

Run by docker/openwebui/start.sh inside the Open WebUI image (v0.6.x), before the server starts:

    WEBUI_ADMIN_EMAIL, WEBUI_ADMIN_PASSWORD   the account (both set, or nothing is done)
    WEBUI_ADMIN_NAME                          its display name (default "Admin")

It uses Open WebUI's own code: importing ``open_webui.config`` runs the database migrations as the
server's start does, and the account is inserted with the same bcrypt hash a sign-up stores, with role
``admin``. With a user already present it changes nothing (an admin who changed the password in the UI
keeps it). Later Open WebUI releases read the same three variables themselves and skip the same way.
Exit status 0 unless the account could not be created; the password is never printed.
"""

from __future__ import annotations

import os
import sys


def log(message: str) -> None:
    print(f"openwebui-setup: {message}", file=sys.stderr, flush=True)


def main() -> int:
    email = os.environ.get("WEBUI_ADMIN_EMAIL", "").strip().lower()
    password = os.environ.get("WEBUI_ADMIN_PASSWORD", "")
    name = os.environ.get("WEBUI_ADMIN_NAME", "").strip() or "Admin"
    if not email or not password:
        log("WEBUI_ADMIN_EMAIL / WEBUI_ADMIN_PASSWORD not set: no admin account created")
        return 0
    if len(password.encode()) > 72:
        log("WEBUI_ADMIN_PASSWORD is longer than 72 bytes (bcrypt's limit): no admin account created")
        return 1

    import open_webui.config  # noqa: F401  (runs the migrations: the tables exist afterwards)
    from open_webui.models.auths import Auths
    from open_webui.models.users import Users
    from open_webui.utils.auth import get_password_hash

    if Users.get_num_users():
        log("an account exists: nothing to do")
        return 0
    user = Auths.insert_new_auth(email, get_password_hash(password), name, role="admin")
    if user is None:
        log(f"could not create the admin account {email}")
        return 1
    log(f"admin account {email} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
