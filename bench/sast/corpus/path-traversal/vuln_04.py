import os
import shutil


def purge(request):
    target = request.POST["folder"]
    shutil.rmtree(os.path.join("/srv/uploads", target))
