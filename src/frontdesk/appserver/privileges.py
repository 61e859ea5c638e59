"""``--user``/``--group``: the identity workers switch to after the arbiter has bound sockets.

The arbiter resolves the names once (a wrong name is a config error, exit 2, before anything
starts) and keeps its own identity, so that a reload can still bind privileged ports; each
worker switches right after the fork, before it imports the app.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass

from frontdesk.errors import ConfigError

__all__ = ["Identity", "resolve_identity"]


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    name: str | None  # the user name, for supplementary groups; None for a bare uid

    def switch(self) -> None:
        """Become this identity for good (group first: after setuid it is not allowed)."""
        if os.getuid() == self.uid and os.getgid() == self.gid:
            return
        if self.name is not None:
            os.initgroups(self.name, self.gid)
        else:
            os.setgroups([self.gid])
        os.setgid(self.gid)
        os.setuid(self.uid)


def resolve_identity(user: str | None, group: str | None) -> Identity | None:
    """The identity named by the settings; None when neither is set."""
    if user is None and group is None:
        return None
    name: str | None = None
    if user is None:
        uid = os.getuid()
        gid = os.getgid()
    else:
        entry = _user(user)
        uid, gid, name = entry.pw_uid, entry.pw_gid, entry.pw_name
    if group is not None:
        gid = _group(group)
    if os.geteuid() != 0 and (uid != os.getuid() or gid != os.getgid()):
        raise ConfigError(
            f"--user/--group {user or ''}:{group or ''}: only root can switch workers to "
            "another user or group"
        )
    return Identity(uid, gid, name)


def _user(text: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwuid(int(text)) if text.isdigit() else pwd.getpwnam(text)
    except KeyError:
        raise ConfigError(f"--user {text!r}: no such user") from None


def _group(text: str) -> int:
    try:
        return grp.getgrgid(int(text)).gr_gid if text.isdigit() else grp.getgrnam(text).gr_gid
    except KeyError:
        raise ConfigError(f"--group {text!r}: no such group") from None
