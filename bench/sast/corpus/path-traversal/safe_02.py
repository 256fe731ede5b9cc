import os


def read_report(request):
    name = os.path.basename(request.GET.get("report"))
    with open(os.path.join("/var/reports", name)) as fh:
        return fh.read()
