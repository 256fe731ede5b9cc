import json


def apply_rule(rule_source, context):
    context.update(json.loads(rule_source))
    return context
