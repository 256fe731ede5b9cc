import ssl

import httpx
import requests


def fetch(url):
    # ruleid: tls-verification-off
    return requests.get(url, verify=False, timeout=5)


def client():
    # ruleid: tls-verification-off
    c = httpx.Client(verify=False)
    session = requests.Session()
    # ruleid: tls-verification-off
    session.verify = False
    ctx = ssl.create_default_context()
    # ruleid: tls-verification-off
    ctx.check_hostname = False
    # ruleid: tls-verification-off
    ctx.verify_mode = ssl.CERT_NONE
    # ruleid: tls-verification-off
    raw = ssl._create_unverified_context()
    return c, session, ctx, raw


def good(url):
    # ok: tls-verification-off
    a = requests.get(url, timeout=5)
    # ok: tls-verification-off
    b = requests.get(url, verify="/etc/ssl/certs/ca-certificates.crt", timeout=5)
    # ok: tls-verification-off
    ctx = ssl.create_default_context()
    return a, b, ctx
