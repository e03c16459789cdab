"""A throwaway certificate authority for the lab tests that run an HTTPS server (tests/service/
lists_test.py, tests/domain/rdap_lab_test.py): certificates are made with the openssl command, so
the client under test checks them exactly as it checks a real server's."""
import os
import subprocess


def _run(*cmd):
    subprocess.run(cmd, capture_output=True, text=True, check=True)


def openssl_cert(tmp, name, san, ca=None):
    """A CA (ca None) or a server certificate for `san` ("IP:127.0.0.1") signed by ca; returns (crt, key)."""
    key, crt = os.path.join(tmp, name + ".key"), os.path.join(tmp, name + ".crt")
    if ca is None:
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             key, "-out", crt, "-days", "1", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign")
        return crt, key
    csr = os.path.join(tmp, name + ".csr")
    _run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
         "-out", csr, "-subj", "/CN=" + name)
    ext = os.path.join(tmp, name + ".ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n")
    _run("openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-days", "1",
         "-extfile", ext, "-out", crt)
    return crt, key
