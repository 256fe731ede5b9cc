def apply_rule(rule_source, context):
    exec(rule_source, {}, context)
    return context
