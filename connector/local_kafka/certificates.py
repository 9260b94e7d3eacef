"""Test certificates for the local broker's SSL listeners, made with the `openssl` CLI.

Standard library only (plus the `openssl` executable every Debian/Ubuntu machine has through
`ca-certificates`): the launcher runs before the project's dependencies are installed.
One folder (`<state dir>/tls/`) holds:

    ca.pem / ca.key           a self-signed test CA (the key never leaves this folder)
    broker.pem                the broker's PKCS#8 key + certificate (SAN localhost, 127.0.0.1)
                              signed by the CA: Kafka's `ssl.keystore.type=PEM` reads it
                              without any keystore password
    client.pem / client.key   a client certificate (CN=iec-client, clientAuth) for mTLS

Keys are unencrypted and readable by the owner only: these are throw-away test credentials.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CLIENT_COMMON_NAME",
    "CertificateError",
    "TlsFiles",
    "ensure_certificates",
    "make_ca",
]

CLIENT_COMMON_NAME = "iec-client"
_CA_COMMON_NAME = "iec-connector local Kafka test CA"
_VALID_DAYS = 30
# Regenerate when less than this is left, so a long-lived dev broker never serves a stale one.
_MIN_REMAINING_SECONDS = 2 * 24 * 3600

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
"""


class CertificateError(RuntimeError):
    """The test certificates could not be made (no `openssl`, or it failed); says why."""


@dataclass(frozen=True)
class TlsFiles:
    """Where the broker's and the clients' PEM files live in one folder."""

    folder: Path

    @property
    def ca(self) -> Path:
        """The CA certificate: clients' `ssl.ca.location`, the broker's truststore."""
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def broker_keystore(self) -> Path:
        """Broker key + certificate chain (`ssl.keystore.type=PEM`)."""
        return self.folder / "broker.pem"

    @property
    def client_certificate(self) -> Path:
        """Client certificate (`ssl.certificate.location`)."""
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        """Client private key (`ssl.key.location`), unencrypted."""
        return self.folder / "client.key"

    def all(self) -> tuple[Path, ...]:
        return (
            self.ca,
            self.ca_key,
            self.broker_keystore,
            self.client_certificate,
            self.client_key,
        )


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        raise CertificateError(
            "`openssl` not found on PATH: the SSL listeners need it to make test certificates "
            "(Debian/Ubuntu: apt-get install openssl), or start without them (--no-ssl)"
        )
    return found


def _run(arguments: list[str], cwd: Path) -> None:
    result = subprocess.run(
        [_openssl(), *arguments],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-1500:]
        raise CertificateError(
            f"openssl {arguments[0]} failed (exit {result.returncode}): {output}"
        )


def _new_key(path: Path, cwd: Path) -> None:
    # genpkey writes unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), the form Kafka's PEM store
    # reads (RSA, DSA or EC keys); a P-256 key takes milliseconds where RSA takes ~0.3 s.
    curve = "ec_paramgen_curve:P-256"
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt", curve, "-out", path.name], cwd)
    path.chmod(0o600)


def _self_signed_ca(folder: Path, common_name: str, config: Path) -> tuple[Path, Path]:
    key, cert = folder / "ca.key", folder / "ca.pem"
    _new_key(key, folder)
    _run(
        [
            "req", "-x509", "-new", "-sha256", "-config", str(config), "-extensions", "ca_ext",
            "-key", key.name, "-subj", f"/CN={common_name}", "-days", str(_VALID_DAYS),
            "-out", cert.name,
        ],
        folder,
    )  # fmt: skip
    return cert, key


def _signed(folder: Path, name: str, common_name: str, extensions: str, config: Path) -> None:
    """`<name>.key` and `<name>.crt` signed by the CA in `folder`."""
    key = folder / f"{name}.key"
    _new_key(key, folder)
    _run(
        ["req", "-new", "-config", str(config), "-key", key.name, "-subj", f"/CN={common_name}",
         "-out", f"{name}.csr"],
        folder,
    )  # fmt: skip
    _run(
        [
            "x509", "-req", "-sha256", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(_VALID_DAYS),
            "-extfile", str(config), "-extensions", extensions, "-out", f"{name}.crt",
        ],
        folder,
    )  # fmt: skip
    (folder / f"{name}.csr").unlink()


def make_ca(folder: Path, common_name: str = _CA_COMMON_NAME) -> Path:
    """A new self-signed CA in `folder` (`ca.pem`, `ca.key`); returns the certificate's path.

    Tests use it for a CA the broker does not know ("wrong CA").
    """
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "openssl.cnf"
        config.write_text(_OPENSSL_CONFIG, "utf-8")
        cert, _ = _self_signed_ca(folder, common_name, config)
    return cert


def _still_valid(files: TlsFiles) -> bool:
    if not all(path.is_file() for path in files.all()):
        return False
    for cert in (files.ca, files.client_certificate, files.broker_keystore):
        result = subprocess.run(
            [
                _openssl(),
                "x509",
                "-checkend",
                str(_MIN_REMAINING_SECONDS),
                "-noout",
                "-in",
                str(cert),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            return False
    return True


def ensure_certificates(folder: Path, *, renew: bool = False) -> TlsFiles:
    """The CA, broker and client certificates in `folder`, made unless valid ones exist.

    1. Reuse the folder's files if all exist and none expires within two days (and not `renew`).
    2. Otherwise build a new set in a scratch folder next to it: CA, then broker and client
       keys and certificates signed by it; the broker's keystore is key + certificate + CA.
    3. Swap the scratch folder in, so a reader never sees half a set.
    """
    files = TlsFiles(folder)
    # 1. Reuse.
    if not renew and _still_valid(files):
        return files
    # 2. Build.
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tls-", dir=folder.parent))
    try:
        os.chmod(scratch, 0o700)
        config = scratch / "openssl.cnf"
        config.write_text(_OPENSSL_CONFIG, "utf-8")
        _self_signed_ca(scratch, _CA_COMMON_NAME, config)
        _signed(scratch, "broker", "localhost", "server_ext", config)
        _signed(scratch, "client", CLIENT_COMMON_NAME, "client_ext", config)
        keystore = scratch / "broker.pem"
        keystore.write_bytes(
            b"".join(
                (scratch / name).read_bytes() for name in ("broker.key", "broker.crt", "ca.pem")
            )
        )
        keystore.chmod(0o600)
        (scratch / "broker.key").unlink()
        (scratch / "broker.crt").unlink()
        (scratch / "client.crt").rename(scratch / "client.pem")
        config.unlink()
        # 3. Publish.
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return files
