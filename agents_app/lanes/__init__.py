"""The lanes, one folder each: functional (engines and the model generator), mutation and
security (SAST, dependencies, secrets). A stage runs them; a new lane is a new folder here
and a name in tasks_app.core.lanes."""
