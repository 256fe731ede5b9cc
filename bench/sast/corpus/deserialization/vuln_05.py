import shelve


def open_store(path):
    return shelve.open(path)
