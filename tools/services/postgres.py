"""PostgreSQL 15 (Debian) on loopback in a temporary directory, archiving WAL with barman-cloud-wal-archive.

When the tests run as root the server runs as the ``postgres`` OS user (PostgreSQL refuses root); the
barman-cloud clients are then started through a small wrapper with the system Python 3.11 and the project's
site-packages (``-S`` keeps Debian's dist-packages out), since the project virtualenv may not be readable by
that user.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import sys

from services.common import LoopbackServer, ServiceError, free_ports, wait_until

PG_BIN = os.environ.get("SUPERTODO_PG_BIN", "/usr/lib/postgresql/15/bin")


def _site_packages():
    import barman

    return os.path.dirname(os.path.dirname(os.path.abspath(barman.__file__)))


def run_as_user():
    """The OS user that runs PostgreSQL: ``postgres`` when we are root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def barman_wrapper(path, client, env):
    """Write an executable wrapper that runs barman-cloud client module ``client`` with ``env`` (0700)."""
    lines = ["#!/bin/sh"]
    for key, value in sorted(env.items()):
        lines.append("export %s=%s" % (key, shlex.quote(value)))
    if run_as_user():
        lines.append("export PYTHONPATH=%s" % shlex.quote(_site_packages()))
        lines.append('exec /usr/bin/python3 -S -m barman.clients.%s "$@"' % client)
    else:
        lines.append('exec %s -m barman.clients.%s "$@"' % (shlex.quote(sys.executable), client))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(path, 0o700)
    chown_to_pg(path)
    return path


def chown_to_pg(path):
    user = run_as_user()
    if not user:
        return
    ent = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path) if os.path.isdir(path) else [(os.path.dirname(path), [], [os.path.basename(path)])]:
        if os.path.isdir(path):
            os.chown(root, ent.pw_uid, ent.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), ent.pw_uid, ent.pw_gid, follow_symlinks=False)


def _preexec_for(user):
    if not user:
        return None
    ent = pwd.getpwnam(user)

    def demote():
        os.setgid(ent.pw_gid)
        os.setuid(ent.pw_uid)

    return demote


class PostgresServer(LoopbackServer):
    """A scratch PostgreSQL 15 cluster listening on 127.0.0.1:<free port>, trust auth for the local superuser.

    ``archive`` (optional) is ``(destination_url, server_name, endpoint_url, env)``: WAL segments are shipped with
    barman-cloud-wal-archive (``compression``: None, "gzip", "bzip2", ...).
    """

    name = "postgres"
    prefix = "pg15-"
    log_name = "postgres.log"
    stop_timeout = 30

    def __init__(self, archive=None, compression=None, workdir=None, pgdata=None, port=None):
        super().__init__(workdir)
        os.chmod(self.workdir, 0o755)
        self.pgdata = pgdata or os.path.join(self.workdir, "data")
        self.sockdir = os.path.join(self.workdir, "sock")
        self.archive = archive
        self.compression = compression
        self.port = port
        self.user = run_as_user()

    # -- lifecycle ----------------------------------------------------------------------------------
    def init(self):
        os.makedirs(self.sockdir, exist_ok=True)
        chown_to_pg(self.sockdir)
        if not os.path.exists(self.pgdata):
            os.makedirs(self.pgdata, mode=0o700)
            chown_to_pg(self.pgdata)
            self._run([os.path.join(PG_BIN, "initdb"), "-D", self.pgdata, "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "'%s'" % self.sockdir,
            "wal_level": "replica",
            "max_wal_senders": "3",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "on",
            "shared_buffers": "32MB",
            "max_connections": "20",
        }
        if self.archive:
            dest, server, endpoint, env = self.archive
            wrapper = barman_wrapper(os.path.join(self.workdir, "wal-archive.sh"), "cloud_walarchive", env)
            comp = " --%s" % self.compression if self.compression else ""
            conf["archive_mode"] = "on"
            conf["archive_command"] = "'%s --endpoint-url %s%s %s %s %%p'" % (wrapper, endpoint, comp, dest, server)
        with open(os.path.join(self.pgdata, "postgresql.auto.conf"), "a", encoding="utf-8") as fh:
            for key, value in conf.items():
                fh.write("%s = %s\n" % (key, value))
        return self

    def start(self, timeout=60):
        if self.port is None:
            self.port = free_ports(1, low=30000, high=32000)[0]
        with open(os.path.join(self.pgdata, "postgresql.auto.conf"), "a", encoding="utf-8") as fh:
            fh.write("port = %d\n" % self.port)
        self._spawn([os.path.join(PG_BIN, "postgres"), "-D", self.pgdata], preexec_fn=_preexec_for(self.user))
        self._wait_ready(self._ready, timeout, "PostgreSQL on 127.0.0.1:%d" % self.port)
        return self

    def _ready(self):
        conn = self.connect()
        conn.close()
        return True

    # -- helpers --------------------------------------------------------------------------------------
    def _run(self, args, env=None):
        res = subprocess.run(args, capture_output=True, text=True, preexec_fn=_preexec_for(self.user),
                             env=env, cwd=self.workdir, check=False)
        if res.returncode != 0:
            raise ServiceError("%s failed (%s): %s" % (args[0], res.returncode, res.stderr.strip()[-2000:]))
        return res

    def connect(self, dbname="postgres"):
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, connect_timeout=3)
        conn.autocommit = True
        return conn

    def execute(self, sql, params=None, dbname="postgres"):
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def switch_wal(self):
        """Close the current WAL segment and wait until the archiver has shipped it."""
        before = self.execute("SELECT archived_count FROM pg_stat_archiver")[0][0]
        # a WAL record first, so that the switch always closes a segment (an idle switch is a no-op)
        self.execute("SELECT pg_logical_emit_message(false, 'supertodo-test', 'switch')")
        self.execute("SELECT pg_switch_wal()")
        wait_until(lambda: self.execute("SELECT archived_count, failed_count, last_failed_wal FROM pg_stat_archiver")[0][0]
                   > before, 60, "WAL archiving")

    def pg_env(self):
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": "postgres"}
