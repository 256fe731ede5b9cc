def read_report(request):
    name = request.GET.get("report")
    with open("/var/reports/" + name) as fh:
        return fh.read()
