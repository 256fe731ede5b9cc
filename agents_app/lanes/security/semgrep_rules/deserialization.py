import json
import marshal
import pickle

import torch
import yaml
from yaml import SafeLoader


def read_settings(text):
    # ruleid: unsafe-yaml-load
    return yaml.load(text)


def read_all(stream):
    # ruleid: unsafe-yaml-load
    docs = list(yaml.load_all(stream, Loader=yaml.Loader))
    # ruleid: unsafe-yaml-load
    unsafe = yaml.unsafe_load(stream)
    # ruleid: unsafe-yaml-load
    full = yaml.load(stream, Loader=yaml.FullLoader)
    return docs, unsafe, full


def restore(blob):
    # ruleid: unsafe-deserialization
    state = pickle.loads(blob)
    # ruleid: unsafe-deserialization
    code = marshal.loads(blob)
    # ruleid: torch-load-unsafe
    model = torch.load("model.pt")
    return state, code, model


def safe(text, blob):
    # ok: unsafe-yaml-load
    a = yaml.safe_load(text)
    # ok: unsafe-yaml-load
    b = yaml.load(text, Loader=yaml.SafeLoader)
    # ok: unsafe-yaml-load
    c = yaml.load(text, Loader=SafeLoader)
    # ok: unsafe-deserialization
    d = json.loads(blob)
    # ok: unsafe-deserialization
    e = pickle.dumps(d)
    # ok: torch-load-unsafe
    f = torch.load("model.pt", weights_only=True)
    return a, b, c, d, e, f
