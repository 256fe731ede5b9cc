import json


def load_rows(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh]
