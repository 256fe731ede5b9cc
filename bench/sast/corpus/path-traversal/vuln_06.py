from django.http import FileResponse


def attachment(request):
    return FileResponse(open("/data/attachments/" + request.GET["id"], "rb"))
