"""What a handover is about: its acceptance criteria (criteria.py), the changed code
(changes.py: the diff as changed symbols) and the project itself (analysis.py: layout,
test framework, dependency files), all read statically — nothing of the project runs."""
