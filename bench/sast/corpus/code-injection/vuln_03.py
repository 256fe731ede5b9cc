from flask import request


def compute():
    return str(eval(request.form["formula"]))
