from flask import Flask, safe_join, send_file

app = Flask(__name__)


@app.route("/logs/<path:name>")
def show_log(name):
    return send_file(safe_join("/var/log/app", name))
