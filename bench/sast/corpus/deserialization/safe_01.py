import json


def load_session(blob):
    return json.loads(blob)
