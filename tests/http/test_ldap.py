"""LDAP bind authentication against a real OpenLDAP (`slapd` from Debian, started here on
127.0.0.1 with a two-entry LDIF): a directory user logs in with Basic auth and becomes a local
user on first sight; a wrong password, an empty one, or a local account's name are refused and
create nobody; a directory that is down or never answers gives a clear 503 within the
timeout, and nobody is created. With TLS (a CA and server certificate made here by openssl):
StartTLS and ldaps:// bind when --ldap-ca-file names the directory's CA; another CA is a
503 naming the TLS verification."""

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


def run_slapd(d, tls=False):
    """slapd on 127.0.0.1 with the two-entry directory: its ldap:// URL and, with `tls`
    (certificates in `d`: ca.pem, server.pem, server.key), its ldaps:// URL."""
    (d / "db").mkdir()
    conf = d / "slapd.conf"
    tls_conf = (f"TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\n"
                f"TLSCertificateKeyFile {d}/server.key\n") if tls else ""
    conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
{tls_conf}database mdb
maxsize 10485760
suffix "dc=example,dc=org"
rootdn "cn=admin,dc=example,dc=org"
rootpw admin-secret
directory {d}/db
""")
    (d / "data.ldif").write_text(LDIF)
    subprocess.run(["/usr/sbin/slapadd", "-f", str(conf), "-l", str(d / "data.ldif")],
                   check=True, capture_output=True)
    port, tls_port = free_port(), free_port()
    urls = f"ldap://127.0.0.1:{port}/" + (f" ldaps://127.0.0.1:{tls_port}/" if tls else "")
    proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", urls, "-d", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for p in [port] + ([tls_port] if tls else []):
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", p), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
    return proc, f"ldap://127.0.0.1:{port}", f"ldaps://127.0.0.1:{tls_port}"


@pytest.fixture(scope="module")
def slapd():
    if not os.path.exists(SLAPD):
        pytest.fail("slapd is not installed (apt-get install slapd; scripts/test-http does)")
    d = Path(tempfile.mkdtemp(prefix="exact-slapd-"))
    proc, url, _ = run_slapd(d)
    yield url
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def make_certificates(d):
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl), plus another CA
    that signed nothing."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    for ca in ("ca", "other"):
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
             "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=exact test {ca}")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                               "keyUsage=digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")


@pytest.fixture(scope="module")
def slapd_tls():
    if not os.path.exists(SLAPD):
        pytest.fail("slapd is not installed (apt-get install slapd; scripts/test-http does)")
    d = Path(tempfile.mkdtemp(prefix="exact-slapd-tls-"))
    make_certificates(d)
    proc, url, tls_url = run_slapd(d, tls=True)
    yield url, tls_url, d / "ca.pem", d / "other.pem"
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def serve(ldap_url, timeout=2, extra=()):
    data = Path(tempfile.mkdtemp(prefix="exact-ldap-"))
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
    log = open(data / "serve.log", "w")
    proc = subprocess.Popen([exact_bin(), "serve", "--data", str(data / "d"), "--bind",
                             f"127.0.0.1:{port}", "--ldap-url", ldap_url,
                             "--ldap-bind-dn", "uid={username},ou=people,dc=example,dc=org",
                             "--ldap-timeout", str(timeout), *extra],
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


def test_starttls_and_ldaps_bind_with_the_given_ca_and_a_wrong_ca_is_a_clear_error(slapd_tls):
    url, tls_url, ca, other = slapd_tls
    for ldap_url, extra in [(url, ["--ldap-starttls"]), (tls_url, [])]:
        proc, base, log = serve(ldap_url, extra=[*extra, "--ldap-ca-file", str(ca)])
        try:
            assert get(base, "ldapalice", "wrong").status_code == 401
            r = get(base, "ldapalice", "alice-directory-pw")
            assert r.status_code == 200, (ldap_url, r.text)
        finally:
            stop(proc, log)
    # A CA that did not sign the directory's certificate: 503 naming it, nobody created.
    for ldap_url, extra in [(url, ["--ldap-starttls"]), (tls_url, [])]:
        proc, base, log = serve(ldap_url, extra=[*extra, "--ldap-ca-file", str(other)])
        try:
            r = get(base, "ldapalice", "alice-directory-pw")
            assert r.status_code == 503, r.text
            assert "TLS verification" in r.json()["detail"], r.text
            assert "ldapalice" not in usernames(base)
        finally:
            stop(proc, log)
    # A CA file that is not one stops the server with the reason.
    r = subprocess.run([exact_bin(), "serve", "--data", tempfile.mkdtemp(), "--bind",
                        f"127.0.0.1:{free_port()}", "--ldap-url", url, "--ldap-ca-file",
                        str(ca.parent / "ext.cnf")], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "--ldap-ca-file" in r.stderr, r.stderr
