import os
from pathlib import Path

from flask import Flask, request, send_file
from werkzeug.utils import secure_filename

app = Flask(__name__)
BASE = "/srv/invoices"


@app.route("/invoice")
def download():
    name = request.args.get("name")
    # ruleid: path-traversal
    return send_file(os.path.join(BASE, name))


@app.route("/raw/<path:name>")
def raw(name):
    # ruleid: path-traversal
    with open(BASE + "/" + name) as fh:
        return fh.read()


def django_view(request):
    name = request.GET["file"]
    # ruleid: path-traversal
    return Path(f"/srv/exports/{name}").read_text()


@app.post("/upload")
def upload():
    doc = request.files["doc"]
    # ruleid: path-traversal
    doc.save("/srv/uploads/" + doc.filename)
    return "stored"


@app.post("/upload-safe")
def upload_safe():
    doc = request.files["doc"]
    # ok: path-traversal
    doc.save(os.path.join("/srv/uploads", secure_filename(doc.filename)))
    return "stored"


def save_model(invoice):
    # ok: path-traversal
    invoice.save()


@app.route("/safe")
def safe_download():
    name = secure_filename(request.args.get("name", ""))
    # ok: path-traversal
    return send_file(os.path.join(BASE, name))


@app.route("/safe2")
def safe_basename():
    name = os.path.basename(request.args["name"])
    # ok: path-traversal
    return open(os.path.join(BASE, name)).read()


def load_config(path):
    # ok: path-traversal
    return open(path).read()
