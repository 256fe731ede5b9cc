"""The command line: manage.py's commands, a face like the portal and the API."""
