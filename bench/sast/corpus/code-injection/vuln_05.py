def make_filter(field, op, value):
    return eval(f"lambda row: row['{field}'] {op} {value!r}")
