"""Websocket routes, mounted by tfactory/asgi.py."""

from django.urls import path

from tasks_app.web.consumers import TaskEventsConsumer

websocket_urlpatterns = [
    path("ws/tasks/<int:task_id>/events/", TaskEventsConsumer.as_asgi(), name="task-events-ws"),
]
