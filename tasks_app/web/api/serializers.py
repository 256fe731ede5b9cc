"""What the API's bodies look like, for the OpenAPI schema.

The services validate every request (the MCP tools and the CLI get the same checks and
the same sentences), so request serializers here only document; response serializers
describe the dicts the services return. tests/test_api_schema.py holds the two together.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from findings_app.models import Comparison, Confidence, Severity, TriageState
from tasks_app import services
from tasks_app.models import SLUG_RE, Task

SLUG_HELP = "a slug: letters, digits, '.', '_' and '-', starting with a letter or digit"


def slug_field(help_text: str, **kwargs) -> serializers.RegexField:
    return serializers.RegexField(SLUG_RE.pattern, max_length=100, help_text=help_text, **kwargs)


# ---------------------------------------------------------------- errors


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="One sentence a person can act on.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The fields at fault, each with its sentences; empty when no field is.",
    )


# ---------------------------------------------------------------- requests

# the handover options, straight from the bounds the service enforces
OPTIONS_SCHEMA = {
    "type": "object",
    "properties": {
        **{
            name: {"type": "integer", "minimum": low, "maximum": high}
            for name, (low, high) in services.HANDOVER_OPTIONS.items()
        },
        **{name: {"type": "boolean"} for name in services.HANDOVER_FLAGS},
    },
    "additionalProperties": False,
    "description": "Tuning of this run; the sandbox backend is the operator's, not a caller's.",
}


@extend_schema_field(OPTIONS_SCHEMA)
class OptionsField(serializers.DictField):
    pass


class ProjectCreateSerializer(serializers.Serializer):
    project_id = slug_field("The project's id (" + SLUG_HELP + ").")
    repo_path = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Absolute path of a git checkout on the TFactory host (only ever read). "
        "Give this or git_url.",
    )
    git_url = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="A repository TFactory clones for itself (https, ssh or git; no credentials "
        "in the URL). Give this or repo_path.",
    )
    name = serializers.CharField(required=False, allow_null=True, max_length=200)
    default_base_ref = serializers.CharField(
        required=False, allow_null=True, help_text="Default 'main'."
    )


class HandoverSerializer(serializers.Serializer):
    project_id = slug_field("A registered project (" + SLUG_HELP + ").")
    spec_id = slug_field("The spec (" + SLUG_HELP + ").")
    branch = serializers.CharField(help_text="The feature branch to test.")
    base_ref = serializers.CharField(
        required=False, allow_null=True, help_text="Default: the project's default_base_ref."
    )
    spec_text = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The spec's text; without it, the AIFactory spec folder of project_id/spec_id "
        "is read.",
    )
    spec_format = serializers.ChoiceField(
        choices=services.SPEC_FORMATS, required=False, help_text="Default 'markdown'."
    )
    options = OptionsField(required=False)


class RerunSerializer(serializers.Serializer):
    lane = serializers.ChoiceField(choices=services.LANES)


class IngestSerializer(serializers.Serializer):
    project_id = slug_field(
        "The project; unknown ones are registered by cloning git_url (" + SLUG_HELP + ")."
    )
    spec_id = slug_field("The spec (" + SLUG_HELP + ").")
    spec_text = serializers.CharField(help_text="The spec's text.")
    format = serializers.ChoiceField(choices=services.SPEC_FORMATS)
    git_url = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Where the code is, for a project TFactory does not know yet (or the same "
        "URL it is bound to).",
    )
    source_branch = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The branch to test; without it, the one branch named after the spec.",
    )


class PullRequestSerializer(serializers.Serializer):
    pr_number = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    repo_slug = serializers.CharField(help_text="owner/name as on GitHub.")


# ---------------------------------------------------------------- responses


class LatestTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    spec_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Task.Status.choices)


class ProjectSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    name = serializers.CharField()
    repo_path = serializers.CharField()
    git_url = serializers.CharField(allow_null=True)
    default_base_ref = serializers.CharField()
    test_dir = serializers.CharField()
    created_at = serializers.DateTimeField()
    tasks = serializers.IntegerField(help_text="How many tasks the project has had.")
    latest_task = LatestTaskSerializer(allow_null=True)


class ProjectListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ProjectSerializer(many=True)


LANES_FIELD = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {"status": {"type": "string"}},
        "required": ["status"],
    },
    "description": "Per lane: {status, started_at, finished_at, duration_s, summary, ...}.",
}


@extend_schema_field(LANES_FIELD)
class LanesField(serializers.DictField):
    pass


class TaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    project_id = serializers.CharField()
    spec_id = serializers.CharField()
    branch = serializers.CharField()
    base_ref = serializers.CharField()
    head_sha = serializers.CharField()
    status = serializers.ChoiceField(choices=Task.Status.choices)
    stage = serializers.CharField(
        allow_null=True, help_text="The stage queued and not yet claimed by a worker."
    )
    mode = serializers.CharField(help_text="'offline' or 'llm:<provider>/<model>'.")
    lanes = LanesField()
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    duration_s = serializers.FloatField(allow_null=True)
    workspace = serializers.CharField(help_text="The task's folder on the TFactory host.")
    spec_folder = serializers.CharField()
    report = serializers.CharField(allow_null=True, help_text="Path of report.json, once written.")
    report_md = serializers.CharField(allow_null=True)
    portal_url = serializers.CharField(help_text="Where a person watches the task.")


class ProjectDetailSerializer(ProjectSerializer):
    recent_tasks = TaskSerializer(many=True, help_text="The newest tasks, newest first.")


class TaskPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TaskSerializer(many=True)


class TaskStatusSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Task.Status.choices)
    stage = serializers.CharField(allow_null=True)
    lanes = LanesField()
    error = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField()


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.CharField()
    level = serializers.CharField()
    stage = serializers.CharField()
    message = serializers.CharField()
    data = serializers.JSONField()


class EventPageSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Task.Status.choices)
    events = EventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as `after` to read on.")
    has_more = serializers.BooleanField()


class CriterionSerializer(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()


class PreviewSpecSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=Task.SpecSource.choices)
    origin = serializers.CharField()
    format = serializers.CharField()
    criteria = CriterionSerializer(many=True)


class ChangedFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    added = serializers.IntegerField(allow_null=True, help_text="null for a binary file")
    deleted = serializers.IntegerField(allow_null=True)


class PreviousTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Task.Status.choices)
    archived_on_start = serializers.BooleanField()


class PreviewSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    spec_id = serializers.CharField()
    repository = serializers.CharField()
    branch = serializers.CharField()
    head_sha = serializers.CharField()
    base_ref = serializers.CharField()
    base_sha = serializers.CharField()
    merge_base = serializers.CharField()
    mode = serializers.CharField()
    options = serializers.DictField()
    lanes = serializers.ListField(child=serializers.CharField())
    spec = PreviewSpecSerializer()
    changed_files = ChangedFileSerializer(many=True)
    spec_folder = serializers.CharField()
    previous_task = PreviousTaskSerializer(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())


class PullRequestLinkSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    spec_id = serializers.CharField()
    repo_slug = serializers.CharField()
    pr_number = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()


class ToolSerializer(serializers.Serializer):
    tool = serializers.CharField()
    version = serializers.CharField(allow_blank=True)
    rule_id = serializers.CharField()


class TriageStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=TriageState.choices)
    note = serializers.CharField(allow_blank=True)


class FindingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    fingerprint = serializers.CharField(help_text="Stable across line shifts and tasks.")
    rank = serializers.IntegerField(help_text="1 = the most severe of its task.")
    lane = serializers.ChoiceField(choices=[(x, x) for x in services.SECURITY_LANES])
    tool = serializers.CharField()
    tool_version = serializers.CharField(allow_blank=True)
    tools = ToolSerializer(many=True, help_text="Every tool that reported it.")
    rule_id = serializers.CharField()
    category = serializers.CharField()
    title = serializers.CharField()
    message = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    severity = serializers.ChoiceField(choices=Severity.choices)
    score = serializers.FloatField(allow_null=True)
    confidence = serializers.ChoiceField(choices=Confidence.choices)
    cwe = serializers.ListField(child=serializers.IntegerField())
    vulnerability_ids = serializers.ListField(child=serializers.CharField())
    aliases = serializers.ListField(child=serializers.CharField())
    file = serializers.CharField(allow_null=True)
    line = serializers.IntegerField(allow_null=True)
    line_end = serializers.IntegerField(allow_null=True)
    snippet = serializers.CharField(allow_blank=True, help_text="Secrets are redacted.")
    component = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    fixed_versions = serializers.ListField(child=serializers.CharField())
    references = serializers.ListField(child=serializers.CharField())
    introduced = serializers.BooleanField(
        allow_null=True, help_text="Brought in by the branch (true) or already on the base."
    )
    comparison = serializers.ChoiceField(choices=Comparison.choices)
    duplicate_of = serializers.IntegerField(
        allow_null=True, help_text="The project's first finding with this fingerprint."
    )
    triage = TriageStateSerializer()
    commit = serializers.CharField(
        required=False, help_text="A secret only in the branch's history: the commit."
    )


class FindingListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = FindingSerializer(many=True)


class TriageSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=TriageState.choices,
        help_text="false_positive or risk_accepted (held for later tasks too); open undoes it.",
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Why; required unless open."
    )


def closed_request_bodies(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular postprocessing hook: request bodies take no other fields (the views
    refuse unknown ones with a 400), and the schema says so."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    return result
