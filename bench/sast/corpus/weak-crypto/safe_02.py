import hashlib


def sign(payload):
    return hashlib.sha256(payload).hexdigest()
