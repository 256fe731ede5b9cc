import subprocess


def ping(request):
    host = request.args.get("host")
    return subprocess.check_output("ping -c 1 %s" % host, shell=True)
