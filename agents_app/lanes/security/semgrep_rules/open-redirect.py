from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from flask import Flask, redirect, request, url_for

app = Flask(__name__)


@app.route("/login")
def login():
    target = request.args.get("next", "/")
    # ruleid: open-redirect
    return redirect(target)


def django_login(request):
    # ruleid: open-redirect
    return HttpResponseRedirect(request.GET["next"])


def django_safe(request):
    target = request.GET.get("next", "/")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        # ok: open-redirect
        return HttpResponseRedirect(target)
    # ok: open-redirect
    return HttpResponseRedirect("/")


@app.route("/home")
def home():
    # ok: open-redirect
    return redirect(url_for("index"))
