import os


def cache_file(key):
    digest = str(abs(hash(key)))
    return open(os.path.join("/tmp/cache", digest), "w")
