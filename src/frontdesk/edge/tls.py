"""TLS termination for the edge: server contexts with SNI, and a development certificate.

``build_context`` turns a list of (certificate chain, key) files into one server
``ssl.SSLContext``: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers for TLS 1.2, ALPN
``http/1.1``, and SNI. Each certificate gets its own context with the same settings; the
server name a client asks for selects the certificate whose subjectAltName covers it (exact
names first, then a ``*.`` wildcard standing for exactly one left-most label, RFC 6125 6.4.3),
and the first certificate answers everyone else (no SNI, an IP address, an unknown name).

Certificates are read with the ``cryptography`` package (the stdlib has no public X.509
parser), which also makes the ``--self-signed`` development certificate: an ECDSA P-256 key
and a certificate for localhost, 127.0.0.1 and ::1, generated at startup in milliseconds,
with no ``openssl`` binary needed.

A bad certificate or key is a ``ConfigError`` with one line naming the file and the problem.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from frontdesk.errors import ConfigError

__all__ = [
    "DEFAULT_CIPHERS",
    "DevCertificate",
    "build_context",
    "certificate_names",
    "generate_self_signed",
    "self_signed_context",
    "server_name",
]

#: TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (Mozilla's
#: "intermediate" list without DHE). TLS 1.3 suites are all AEAD and left to OpenSSL.
DEFAULT_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)

CertPair = tuple[str | os.PathLike[str], str | os.PathLike[str]]

# The server name each TLS session asked for. SSLObject has no public accessor for the SNI a
# server received, so the SNI callback records it here; entries go with their sessions.
_server_names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()


def server_name(ssl_object: ssl.SSLObject | None) -> str | None:
    """The server name (SNI, lower-case) the client sent on this session, or None."""
    if ssl_object is None:
        return None
    return _server_names.get(ssl_object)


def build_context(
    certs: Sequence[CertPair],
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    ciphers: str = DEFAULT_CIPHERS,
    alpn: Sequence[str] = ("http/1.1",),
) -> ssl.SSLContext:
    """A server context for ``certs``; the first certificate is the default one."""
    if not certs:
        raise ConfigError("TLS needs at least one certificate and key")
    if min_version > max_version:
        raise ConfigError(f"TLS minimum version {min_version.name} is above the maximum")

    def new_context(cert: CertPair) -> ssl.SSLContext:
        context = _server_context(min_version, max_version, ciphers, alpn)
        _load_pair(context, cert)
        return context

    default = new_context(certs[0])
    exact: dict[str, ssl.SSLContext] = {}
    wildcard: dict[str, ssl.SSLContext] = {}  # ".example.com" for "*.example.com"
    # With one certificate there is nothing to choose: its names are not even read.
    for index, cert in enumerate(certs if len(certs) > 1 else ()):
        context = default if index == 0 else new_context(cert)
        for name in certificate_names(cert[0]):
            if name.startswith("*."):
                wildcard.setdefault(name[1:], context)
            else:
                exact.setdefault(name, context)

    def choose(ssl_object: ssl.SSLObject, name: str | None, _initial: ssl.SSLContext) -> None:
        if name is None:
            return
        name = name.lower().rstrip(".")
        _server_names[ssl_object] = name
        context = exact.get(name)
        if context is None:
            _, dot, parent = name.partition(".")
            context = wildcard.get(dot + parent) if dot and parent else None
        if context is not None and context is not default:
            ssl_object.context = context

    default.sni_callback = choose
    return default


def _server_context(
    min_version: ssl.TLSVersion,
    max_version: ssl.TLSVersion,
    ciphers: str,
    alpn: Sequence[str],
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.minimum_version = min_version
        context.maximum_version = max_version
    except (ValueError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS version range not supported here: {exc}") from None
    try:
        context.set_ciphers(ciphers)
    except ssl.SSLError:
        raise ConfigError(f"no TLS cipher matches {ciphers!r}") from None
    if alpn:
        context.set_alpn_protocols(list(alpn))
    # Renegotiation is a DoS lever and HTTP/1.1 servers have no use for it.
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


class _EncryptedKey(Exception):
    pass


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's password.
    raise _EncryptedKey


def _load_pair(context: ssl.SSLContext, pair: CertPair) -> None:
    cert, key = (os.fspath(p) for p in pair)
    for kind, path in (("certificate", cert), ("key", key)):
        try:
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            raise ConfigError(f"TLS {kind} file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read TLS {kind} file {path}: {exc.strerror}") from None
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except _EncryptedKey:
        raise ConfigError(f"TLS key {key} is encrypted; give it unencrypted") from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ConfigError(f"TLS certificate {cert} does not match its key {key}") from None
        raise ConfigError(_diagnose(cert, key, exc)) from None


def _diagnose(cert: str, key: str, exc: ssl.SSLError) -> str:
    """Which of the two files OpenSSL could not use (its "PEM lib" does not say)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        with open(cert, "rb") as file:
            x509.load_pem_x509_certificates(file.read())
    except ValueError:
        return f"TLS certificate file {cert} holds no PEM certificate"
    try:
        with open(key, "rb") as file:
            load_pem_private_key(file.read(), password=None)
    except (ValueError, TypeError):
        return f"TLS key file {key} holds no unencrypted PEM private key"
    except Exception:  # an unsupported key type, say: OpenSSL's reason is better
        pass
    return f"cannot load TLS certificate {cert} with key {key}: {exc.reason or exc}"


def certificate_names(cert_file: str | os.PathLike[str]) -> list[str]:
    """The DNS names (lower-case) and IP addresses a certificate chain's leaf is valid for.

    The subjectAltName entries; the subject's common name only when there are none.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    path = os.fspath(cert_file)
    try:
        with open(path, "rb") as file:
            data = file.read()
        leaf = x509.load_pem_x509_certificates(data)[0]
    except OSError as exc:
        raise ConfigError(f"cannot read TLS certificate file {path}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"TLS certificate file {path} holds no PEM certificate") from None
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(attr.value).lower() for attr in common]
    names = [name.lower() for name in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return names


@dataclass(frozen=True, slots=True)
class DevCertificate:
    """A self-signed certificate and its key, PEM-encoded, for local development only."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``cert.pem`` and ``key.pem`` (readable by the owner only) into ``directory``."""
        folder = Path(directory)
        cert, key = folder / "cert.pem", folder / "key.pem"
        cert.write_bytes(self.cert_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(self.key_pem)
        return cert, key


def generate_self_signed(
    names: Iterable[str] = ("localhost",),
    addresses: Iterable[str] = ("127.0.0.1", "::1"),
    *,
    days: int = 30,
) -> DevCertificate:
    """A fresh self-signed certificate for ``names`` and ``addresses`` (ECDSA P-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names = list(names)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "frontdesk development"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "localhost"),
        ]
    )
    alt: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in addresses]
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return DevCertificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def self_signed_context(
    certificate: DevCertificate | None = None,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    ciphers: str = DEFAULT_CIPHERS,
    alpn: Sequence[str] = ("http/1.1",),
) -> ssl.SSLContext:
    """A server context on ``certificate`` (a fresh one by default), for ``--self-signed``.

    The stdlib loads keys from files only: they go through a private temporary directory
    that is removed once loaded.
    """
    certificate = certificate or generate_self_signed()
    with tempfile.TemporaryDirectory(prefix="frontdesk-tls-") as folder:
        pair = certificate.write(folder)
        return build_context(
            [pair], min_version=min_version, max_version=max_version, ciphers=ciphers, alpn=alpn
        )
