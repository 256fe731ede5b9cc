import yaml


def dump_config(config):
    return yaml.safe_dump(config)
