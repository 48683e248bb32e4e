"""X.509 helpers for the certificate and mTLS tests, on python3-cryptography (an
implementation independent of sigil's): keys, CSRs (good, weak, badly signed), throwaway
CAs and the certificates they sign (expired ones too), and checks of what sigil issued.

    key = new_key()
    csr = csr_pem(key, cn="admin", uris=["spiffe://example.org/admin"])
    ca = ThrowawayCa(folder)                   # a root CA of its own
    cert = ca.leaf(key, "spiffe://example.org/api", expired=True)
"""

import base64
import datetime
import hashlib
import os
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM


def new_key(kind="P-256"):
    if kind == "P-256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "P-384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind.startswith("RSA-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    raise ValueError(kind)


def key_pem(key):
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def csr_pem(key, cn="workload", uris=(), dns=()):
    """A CSR signed by key, asking for a subject and SANs (which sigil must ignore)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    names = [x509.UniformResourceIdentifier(u) for u in uris] + [x509.DNSName(d) for d in dns]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(PEM).decode()


def bad_signature_csr_pem():
    """A well-formed CSR whose signature does not verify (one bit of it flipped)."""
    der = bytearray(x509.load_pem_x509_csr(csr_pem(new_key()).encode()).public_bytes(
        serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the ECDSA signature's last integer
    return pem_of("CERTIFICATE REQUEST", bytes(der))


def pem_of(label, der):
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def load_chain(pem_text):
    """Every certificate of a PEM text, in order."""
    if isinstance(pem_text, str):
        pem_text = pem_text.encode()
    out = []
    marker = b"-----END CERTIFICATE-----"
    for block in pem_text.split(marker)[:-1]:
        out.append(x509.load_pem_x509_certificate(block + marker + b"\n"))
    return out


def load_file_chain(path):
    with open(path, "rb") as f:
        return load_chain(f.read())


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def x5t_s256(cert):
    """RFC 8705 §3.1: base64url (no padding) of the SHA-256 of the DER."""
    return base64.urlsafe_b64encode(hashlib.sha256(der(cert)).digest()).rstrip(b"=").decode()


def sans(cert):
    """(URIs, DNS names) of the certificate's subjectAltName."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return (ext.get_values_for_type(x509.UniformResourceIdentifier),
            ext.get_values_for_type(x509.DNSName))


def lifetime_seconds(cert):
    return int((cert.not_valid_after - cert.not_valid_before).total_seconds())


def write(path, data, mode=0o644):
    with open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60,
                          input=input)


def now():
    return datetime.datetime.utcnow().replace(microsecond=0)


class ThrowawayCa:
    """A root CA of its own (not sigil's), in `folder` as <name>-ca.pem / <name>-ca.key."""

    def __init__(self, folder, name="other", key=None):
        self.folder = folder
        self.name = name
        self.key = key or new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test root")])
        self.cert = (x509.CertificateBuilder()
                     .subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now() - datetime.timedelta(days=1))
                     .not_valid_after(now() + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = write(os.path.join(folder, f"{name}-ca.pem"),
                               self.cert.public_bytes(PEM))
        self.key_path = write(os.path.join(folder, f"{name}-ca.key"), key_pem(self.key), 0o600)

    def leaf(self, key, uri, dns=(), expired=False, lifetime=3600):
        """An X509-SVID-shaped leaf for key; expired=True: valid a day ago for an hour."""
        start = now() - datetime.timedelta(days=1) if expired else now() - datetime.timedelta(minutes=1)
        names = [x509.UniformResourceIdentifier(uri)] + [x509.DNSName(d) for d in dns]
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start)
                .not_valid_after(start + datetime.timedelta(seconds=lifetime))
                .add_extension(x509.SubjectAlternativeName(names), critical=True)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                             False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(self.key, hashes.SHA256()))

    def leaf_files(self, name, uri, dns=(), expired=False):
        """A new key and its leaf, written as <name>.key / <name>.pem; returns the paths."""
        key = new_key()
        cert = self.leaf(key, uri, dns, expired)
        return (write(os.path.join(self.folder, f"{name}.pem"), cert.public_bytes(PEM)),
                write(os.path.join(self.folder, f"{name}.key"), key_pem(key), 0o600))


def self_signed_files(folder, name, uri):
    """A lone self-signed certificate with one URI SAN (self_signed_tls_client_auth)."""
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now() - datetime.timedelta(minutes=1))
            .not_valid_after(now() + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (write(os.path.join(folder, f"{name}.pem"), cert.public_bytes(PEM)),
            write(os.path.join(folder, f"{name}.key"), key_pem(key), 0o600), cert)
