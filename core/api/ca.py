"""A small certificate authority for a lab or a small site: the CA, the server's certificate, users' and services'.

``kavlan-api ca DIR --server-name NAME --user alice --service oar`` writes PEM files into DIR: ``ca.pem`` and
``ca.key`` (kept and reused when DIR already has them), ``server.pem``/``server.key`` (SAN: DNS NAME, IP
127.0.0.1), and ``NAME.pem``/``NAME.key`` per user or service (CN = NAME). Private keys are 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .auth import USER_NAME

DEFAULT_DAYS = 825
RESERVED = {"ca", "server"}

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Authority:
    key: Key
    cert: x509.Certificate


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_authority(name: str = "KaVLAN CA", days: int = 3650) -> Authority:
    key = new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kavlan"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def issue(
    ca: Authority,
    common_name: str,
    *,
    server: bool = False,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = DEFAULT_DAYS,
    key: Key | None = None,
) -> tuple[Key, x509.Certificate]:
    """A certificate signed by ``ca``: a TLS server's (``server=True``, with SANs) or a client's (CN = user)."""
    key = key or new_key()
    start = not_before or _now() - dt.timedelta(minutes=5)
    end = not_after or _now() + dt.timedelta(days=days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca.key, hashes.SHA256())


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (never, even for an instant, by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def load_authority(directory: Path) -> Authority | None:
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if not cert_path.exists() or not key_path.exists():
        return None
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an EC key made by kavlan-api ca")
    return Authority(key, cert)


MAX_DAYS = 100 * 365
"""Validity of an issued certificate at most (a century): more is a typo."""


def make_all(
    directory: str | Path,
    server_name: str,
    users: Sequence[str] = (),
    services: Sequence[str] = (),
    *,
    days: int = DEFAULT_DAYS,
) -> list[Path]:
    """Everything one command needs for mTLS; returns the files written (the CA's only when new). Everything is
    made before anything is written: a command that fails writes nothing."""
    out = Path(directory)
    for name in [*users, *services]:
        if not USER_NAME.fullmatch(name) or name in RESERVED:
            raise ValueError(
                f"{name!r} cannot be a certificate's CN here (a user name, not 'ca' or 'server')"
            )
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"--days must be from 1 to {MAX_DAYS}, not {days}")
    if not server_name or not server_name.isascii() or not server_name.isprintable() or " " in server_name:
        raise ValueError(f"--server-name must be a DNS name, not {server_name[:60]!r}")
    ca = load_authority(out) if out.is_dir() else None
    files: list[tuple[Path, bytes, bool]] = []
    if ca is None:
        ca = make_authority()
        files += [(out / "ca.pem", cert_pem(ca.cert), False), (out / "ca.key", key_pem(ca.key), True)]
    key, cert = issue(
        ca,
        server_name,
        server=True,
        dns_names=list(dict.fromkeys([server_name, "localhost"])),
        ip_addresses=["127.0.0.1"],
        days=days,
    )
    files += [(out / "server.pem", cert_pem(cert), False), (out / "server.key", key_pem(key), True)]
    for name in [*users, *services]:
        key, cert = issue(ca, name, days=days)
        files += [(out / f"{name}.pem", cert_pem(cert), False), (out / f"{name}.key", key_pem(key), True)]
    out.mkdir(parents=True, exist_ok=True)
    for path, data, private in files:
        if private:
            write_private(path, data)
        else:
            path.write_bytes(data)
    return [path for path, _, _ in files]
