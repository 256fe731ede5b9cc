from pathlib import Path

from flask import Flask

app = Flask(__name__)


@app.route("/logs/<path:name>")
def show_log(name):
    return Path(f"/var/log/app/{name}").read_text()
