import os

from flask import Flask

app = Flask(__name__)

# ruleid: debug-enabled
DEBUG = True
ALLOWED_HOSTS = ["*"]


def main():
    # ruleid: debug-enabled
    app.run(host="0.0.0.0", debug=True)


def configure():
    # ruleid: debug-enabled
    app.config["DEBUG"] = True
    # ok: debug-enabled
    app.run(debug=os.environ.get("FLASK_DEBUG") == "1")
