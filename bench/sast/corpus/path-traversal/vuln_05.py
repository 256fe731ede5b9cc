from flask import Flask, request

app = Flask(__name__)


@app.post("/upload")
def upload():
    f = request.files["doc"]
    f.save("/srv/uploads/" + f.filename)
    return "ok"
