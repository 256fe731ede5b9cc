from django.db import connection


def search(request):
    term = request.GET.get("q", "")
    with connection.cursor() as cur:
        cur.execute("SELECT title FROM posts WHERE title LIKE '%%{}%%'".format(term))
        return cur.fetchall()
