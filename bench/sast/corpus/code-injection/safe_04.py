import operator

OPS = {"<": operator.lt, ">": operator.gt, "==": operator.eq}


def make_filter(field, op, value):
    return lambda row: OPS[op](row[field], value)
