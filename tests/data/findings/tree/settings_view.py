import hashlib
import os

import requests
from flask import Flask, redirect, request

app = Flask(__name__)


@app.route("/go")
def go():
    return redirect(request.args["next"])


def fetch(url):
    return requests.get(url, verify=False, timeout=5)


def digest(data):
    return hashlib.md5(data).hexdigest()


def run(cmd):
    os.system(cmd)
    password = "hunter2-but-longer"
    return password
