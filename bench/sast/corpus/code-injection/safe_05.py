def version_tuple():
    return eval("(1, 2, 3)")
