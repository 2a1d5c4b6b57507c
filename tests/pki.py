"""A throwaway PKI for the TLS tests (`test_trust.py`, `test_v2_mtls.py`), made with the openssl CLI: a CA,
then the server and client certificates it issues."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

CONF = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {san}
[ client_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
"""

RSA = ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
EC = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


class Authority:
    """A CA in `directory` whose server certificates name `server_san` (e.g. 'IP:127.0.0.1')."""

    def __init__(self, directory: Path, name: str, server_san: str, key_args: Sequence[str] = RSA) -> None:
        self.directory, self.key_args = directory, tuple(key_args)
        self.conf = directory / "openssl.conf"
        self.conf.write_text(CONF.format(san=server_san))
        self.ca_key = self.key("ca")
        self.ca = directory / "ca.pem"
        openssl("req", "-x509", "-new", "-key", str(self.ca_key), "-subj", f"/CN={name}", "-days", "2",
                "-config", str(self.conf), "-extensions", "ca_ext", "-out", str(self.ca))

    def key(self, name: str) -> Path:
        path = self.directory / f"{name}.key"
        openssl("genpkey", *self.key_args, "-out", str(path))
        return path

    def issue(self, name: str, subject: str, ext: str, serial: str = "0x1234") -> Path:
        """A certificate for a new key `<name>.key`, with the extensions `server_ext` or `client_ext`."""
        d = self.directory
        k, csr, cert = self.key(name), d / f"{name}.csr", d / f"{name}.pem"
        openssl("req", "-new", "-key", str(k), "-subj", subject, "-config", str(self.conf), "-out", str(csr))
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self.ca_key), "-set_serial",
                serial, "-days", "2", "-sha256", "-extfile", str(self.conf), "-extensions", ext, "-out", str(cert))
        return cert
