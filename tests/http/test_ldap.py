"""LDAP bind authentication against a real OpenLDAP (`slapd` from Debian, started here on
127.0.0.1 with a two-entry LDIF): a directory user logs in with Basic auth and becomes a local
user on first sight; a wrong password, an empty one, or a local account's name are refused and
create nobody; a directory that is down or never answers gives a clear 503 within the
timeout, and nobody is created."""

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import PASSWORD, exact_bin, free_port, wait_for

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
LDIF = """dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=ldapalice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: ldapalice
cn: Alice
sn: Directory
userPassword: alice-directory-pw

dn: uid=exact,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: exact
cn: Not the admin
sn: Directory
userPassword: directory-exact-pw
"""


@pytest.fixture(scope="module")
def slapd():
    if not os.path.exists(SLAPD):
        pytest.fail("slapd is not installed (apt-get install slapd; scripts/test-http does)")
    d = Path(tempfile.mkdtemp(prefix="exact-slapd-"))
    (d / "db").mkdir()
    conf = d / "slapd.conf"
    conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "dc=example,dc=org"
rootdn "cn=admin,dc=example,dc=org"
rootpw admin-secret
directory {d}/db
""")
    (d / "data.ldif").write_text(LDIF)
    subprocess.run(["/usr/sbin/slapadd", "-f", str(conf), "-l", str(d / "data.ldif")],
                   check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/",
                             "-d", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"ldap://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def serve(ldap_url, timeout=2):
    data = Path(tempfile.mkdtemp(prefix="exact-ldap-"))
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
    log = open(data / "serve.log", "w")
    proc = subprocess.Popen([exact_bin(), "serve", "--data", str(data / "d"), "--bind",
                             f"127.0.0.1:{port}", "--ldap-url", ldap_url,
                             "--ldap-bind-dn", "uid={username},ou=people,dc=example,dc=org",
                             "--ldap-timeout", str(timeout)],
                            env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/healthz", proc, "exact serve")
    return proc, url, log


def get(url, user, pw):
    return requests.get(url + "/api/v1/images/image_sets/", auth=(user, pw), timeout=30)


def usernames(url):
    r = requests.get(url + "/api/v1/users/users/?limit=100", auth=("exact", PASSWORD))
    assert r.status_code == 200, r.text
    return {u["username"] for u in r.json()["results"]}


def stop(proc, log):
    proc.terminate()
    proc.wait(10)
    log.close()


def test_directory_user_logs_in_and_is_created_on_first_sight(slapd):
    proc, url, log = serve(slapd)
    try:
        assert "ldapalice" not in usernames(url)
        assert get(url, "ldapalice", "wrong").status_code == 401
        assert get(url, "ldapalice", "").status_code == 401
        assert "ldapalice" not in usernames(url)
        r = get(url, "ldapalice", "alice-directory-pw")
        assert r.status_code == 200, r.text
        assert "ldapalice" in usernames(url)
        assert get(url, "ldapalice", "alice-directory-pw").status_code == 200
        # The directory's "exact" cannot take over the local superuser.
        assert get(url, "exact", "directory-exact-pw").status_code == 401
        assert get(url, "exact", PASSWORD).status_code == 200
    finally:
        stop(proc, log)


def test_a_down_or_silent_directory_is_a_clear_503_and_creates_nobody():
    # Down: nothing listens on the port.
    proc, url, log = serve(f"ldap://127.0.0.1:{free_port()}", timeout=1)
    try:
        r = get(url, "ldapbob", "some-password")
        assert r.status_code == 503 and "LDAP server" in r.json()["detail"], r.text
        assert "ldapbob" not in usernames(url)
    finally:
        stop(proc, log)
    # Slow: a listener that accepts and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held = []
    t = threading.Thread(target=lambda: [held.append(silent.accept()) for _ in range(4)],
                         daemon=True)
    t.start()
    proc, url, log = serve(f"ldap://127.0.0.1:{silent.getsockname()[1]}", timeout=1)
    try:
        start = time.monotonic()
        r = get(url, "ldapbob", "some-password")
        assert r.status_code == 503 and "LDAP server" in r.json()["detail"], r.text
        assert time.monotonic() - start < 10
        assert "ldapbob" not in usernames(url)
    finally:
        stop(proc, log)
        silent.close()
