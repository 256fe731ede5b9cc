import ast
import sys

import jinja2
from flask import render_template_string, request


def calculate(expression):
    # ruleid: code-injection
    return eval(expression)


def run_hook(source, env):
    # ruleid: code-injection
    exec("result = " + source, env)


def from_cli():
    # ruleid: code-injection
    return eval(sys.argv[1])


def greet():
    name = request.args.get("name", "")
    # ruleid: code-injection
    return render_template_string("<p>Hello " + name + "</p>")


def template(text):
    # ruleid: code-injection
    return jinja2.Template(text).render()


def safe(expression, count):
    # ok: code-injection
    value = ast.literal_eval(expression)
    # ok: code-injection
    total = eval("1 + 2")
    # ok: code-injection
    doubled = eval(f"{int(count)} * 2")
    name = request.args.get("name", "")
    # ok: code-injection
    page = render_template_string("<p>Hello {{ name }}</p>", name=name)
    return value, total, doubled, page
