import urllib.request

import requests
from flask import Flask, request

app = Flask(__name__)
ALLOWED = {"api.example.com"}


@app.route("/preview")
def preview():
    url = request.args["url"]
    # ruleid: ssrf
    return requests.get(url, timeout=5).text


def webhook(request):
    target = request.POST.get("callback")
    # ruleid: ssrf
    urllib.request.urlopen(target)


@app.route("/proxy/<path:host>")
def proxy(host):
    # ruleid: ssrf
    return requests.post(f"https://{host}/hook", timeout=5).text


def fetch_rates(currency):
    # ok: ssrf
    return requests.get("https://rates.example.com/" + currency, timeout=5).json()


@app.route("/status")
def status():
    # ok: ssrf
    return requests.get("https://status.example.com", timeout=5).text
