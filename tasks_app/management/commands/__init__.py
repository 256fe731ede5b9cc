"""manage.py's TFactory commands; each goes through tasks_app.services for what it writes."""
