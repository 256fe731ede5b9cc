import jinja2
from django.http import HttpResponse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe


def badge(label):
    # ruleid: xss-mark-safe
    return mark_safe("<span class='badge'>" + label + "</span>")


def hello(request):
    name = request.GET.get("name", "")
    # ruleid: xss-mark-safe
    return HttpResponse("<h1>Hello " + name + "</h1>")


def safe_badge(label):
    # ok: xss-mark-safe
    a = mark_safe("<span>" + escape(label) + "</span>")
    # ok: xss-mark-safe
    b = format_html("<span>{}</span>", label)
    # ok: xss-mark-safe
    c = mark_safe("<br>")
    return a, b, c


def environments(loader):
    # ruleid: xss-autoescape-off
    bad = jinja2.Environment(loader=loader, autoescape=False)
    # ruleid: xss-autoescape-off
    default = jinja2.Environment(loader=loader)
    # ok: xss-autoescape-off
    good = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape())
    return bad, default, good
