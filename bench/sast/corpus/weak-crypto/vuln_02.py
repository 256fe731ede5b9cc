import hashlib


def sign(payload):
    return hashlib.sha1(payload).hexdigest()
