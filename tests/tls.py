"""A throwaway certificate authority for TLS tests: a CA, a broker certificate for
`localhost`, and client certificates, written as PEM files (keys mode 600)."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _cert(subject: str, key, issuer_cert=None, issuer_key=None, ca: bool = False, server: bool = False):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write_pem(path: Path, cert=None, key=None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    return path


def make_pki(folder: Path, clients: tuple[str, ...] = ("box",), name: str = "ca") -> dict[str, Path]:
    """{'ca': ..., 'broker.crt', 'broker.key', '<client>.crt', '<client>.key'} in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(f"callqa test CA {name}", ca_key, ca=True)
    files = {"ca": _write_pem(folder / f"{name}.crt", cert=ca)}
    for who in ("broker", *clients):
        key = ec.generate_private_key(ec.SECP256R1())
        files[f"{who}.key"] = _write_pem(folder / f"{who}.key", key=key)
        files[f"{who}.crt"] = _write_pem(folder / f"{who}.crt", _cert(
            "localhost" if who == "broker" else who, key, ca, ca_key, server=who == "broker"))
    return files
