import marshal


def load_code(data):
    return marshal.loads(data)
