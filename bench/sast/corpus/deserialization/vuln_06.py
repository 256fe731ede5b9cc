import yaml


def read_unsafe(text):
    return yaml.unsafe_load(text)
