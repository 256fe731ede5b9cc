import hashlib
import random
import secrets
import string

from Crypto.Cipher import AES, DES
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms, modes


def password_digest(password):
    # ruleid: weak-hash
    return hashlib.md5(password.encode()).hexdigest()


def sign(data):
    # ruleid: weak-hash
    return hashlib.new("sha1", data).hexdigest()


def cache_key(data):
    # ok: weak-hash
    a = hashlib.md5(data, usedforsecurity=False).hexdigest()
    # ok: weak-hash
    b = hashlib.sha256(data).hexdigest()
    return a, b


def encrypt(key, data):
    # ruleid: weak-cipher
    legacy = DES.new(key, DES.MODE_CBC)
    # ruleid: weak-cipher
    ecb = AES.new(key, AES.MODE_ECB)
    # ruleid: weak-cipher
    mode = modes.ECB()
    # ok: weak-cipher
    gcm = AES.new(key, AES.MODE_GCM)
    # ok: weak-cipher
    algo = algorithms.AES(key)
    return legacy, ecb, mode, gcm, algo


def keys():
    # ruleid: weak-rsa-key
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    # ok: weak-rsa-key
    big = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return small, big


def tokens(user):
    # ruleid: insecure-random-secret
    reset_token = "".join(random.choice(string.ascii_letters) for _ in range(20))
    # ruleid: insecure-random-secret
    user.api_key = str(random.getrandbits(128))
    # ok: insecure-random-secret
    session_token = secrets.token_urlsafe(32)
    # ok: insecure-random-secret
    jitter = random.random()
    return reset_token, session_token, jitter
