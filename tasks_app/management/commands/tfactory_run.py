"""Run one handover in the foreground, with progress on the terminal.

Exit status 0 when the task is done; non-zero, with the error, when it failed.
The same services and stages as the workers run it.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_app.stages.report import (
    baseline_warning,
    coverage_line,
    delivery_lines,
    figure,
    findings_line,
)
from tasks_app import services
from tasks_app.models import Task, TaskEvent

# the task ended done, but its existing suite could not be run (or the project could not
# be set up): its figures are only half known; 1 is a failed task or bad input
EXIT_BASELINE_BROKEN = 3


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


_CONTROL = {c: "?" for c in range(32) if c not in (9, 10)} | {127: "?"}


def _printable(text: str) -> str:
    """Engine output can carry terminal escape sequences; show them inert."""
    return text.translate(_CONTROL)


def _lanes_off(value: str | None) -> dict[str, bool]:
    """The handover options that switch off every lane --lanes does not name."""
    if value is None:
        return {}
    wanted = [lane.strip() for lane in value.split(",") if lane.strip()]
    unknown = [lane for lane in wanted if lane not in services.LANES]
    if unknown or not wanted:
        raise CommandError(
            f"--lanes: unknown lane(s) {', '.join(unknown) or '(none given)'}; "
            f"lanes: {', '.join(services.LANES)}"
        )
    return {lane: False for lane in services.LANES if lane not in wanted}


class Command(BaseCommand):
    help = "Hand a feature branch to TFactory and run the pipeline in the foreground."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project id (a slug)")
        parser.add_argument("--spec", required=True, help="spec id (a slug)")
        parser.add_argument("--branch", required=True, help="the feature branch to test")
        parser.add_argument("--base", help="base ref (default: the project's default base)")
        parser.add_argument(
            "--repo", help="repository path; creates the project when it does not exist yet"
        )
        spec = parser.add_mutually_exclusive_group()
        spec.add_argument("--spec-file", help="a spec file, for repositories without AIFactory")
        spec.add_argument("--spec-text", help="inline spec text")
        parser.add_argument("--spec-format", default="markdown", choices=services.SPEC_FORMATS)
        parser.add_argument(
            "--sandbox",
            choices=services.SANDBOX_CHOICES,
            help="override TFACTORY_SANDBOX",
        )
        parser.add_argument("--engine-budget", type=int, help="seconds per engine and module")
        parser.add_argument(
            "--no-mutation",
            action="store_true",
            help="skip the mutation lane (accepted tests are then not checked for teeth)",
        )
        parser.add_argument("--mutation-budget", type=int, help="seconds for the mutation lane")
        parser.add_argument(
            "--lanes",
            help="comma-separated lanes to run (default: all of "
            + ", ".join(services.LANES)
            + "); e.g. --lanes sast,deps,secrets for a security scan without tests",
        )
        parser.add_argument(
            "--offline",
            action="store_true",
            help="use the offline engines even when a model is configured (TFACTORY_LLM_*)",
        )
        parser.add_argument(
            "--with-engines",
            action="store_true",
            help="with a model configured, run the offline engines beside it",
        )
        delivery = parser.add_mutually_exclusive_group()
        delivery.add_argument(
            "--no-deliver",
            action="store_true",
            help="no commit, push or pull-request comment for this run",
        )
        delivery.add_argument(
            "--dry-run-delivery",
            action="store_true",
            help="write delivery/tests.patch and delivery/pr_comment.md instead of committing, "
            "pushing and posting",
        )
        parser.add_argument("--json", action="store_true", help="print report.json at the end")
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args, **opts) -> None:
        lanes_off = _lanes_off(opts["lanes"])  # checked before anything is created
        try:
            if opts["repo"]:
                project, created = services.project_for_repo(opts["project"], opts["repo"])
                if created:
                    self._say(f"created project {project.id} for {project.repo_path}")
            options = {}
            if opts["engine_budget"]:
                options["engine_budget_s"] = opts["engine_budget"]
            if opts["no_mutation"]:
                options["mutation"] = False
            options.update(lanes_off)
            if opts["mutation_budget"]:
                options["mutation_budget_s"] = opts["mutation_budget"]
            if opts["offline"]:
                options["offline"] = True
            if opts["with_engines"]:
                options["with_engines"] = True
            if opts["no_deliver"]:
                options["deliver"] = False
            if opts["dry_run_delivery"]:
                options["dry_run_delivery"] = True
            handover = services.Handover(
                project_id=opts["project"],
                spec_id=opts["spec"],
                branch=opts["branch"],
                base_ref=opts["base"],
                spec_file=opts["spec_file"],
                spec_text=opts["spec_text"],
                spec_format=opts["spec_format"],
                options=options,
            )
            task = services.start_task(handover, enqueue=False, sandbox=opts["sandbox"], local=True)
        except services.HandoverError as exc:
            raise CommandError(str(exc)) from exc

        # a SIGTERM (a CI job's timeout, `kill`) ends the task like Ctrl-C does
        signal.signal(signal.SIGTERM, _interrupt)
        listener = None if opts["quiet"] else self._printer()
        try:
            task = services.run_in_foreground(task.pk, listener)
        except KeyboardInterrupt:
            raise CommandError(f"interrupted; task {task.pk} cancelled") from None

        report_path = Path(task.workspace) / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._summary(task, report)
        if task.status != Task.Status.DONE:
            raise CommandError(f"task {task.pk} {task.status}: {task.error or 'see the report'}")
        if warning := baseline_warning(report):
            raise CommandError(
                f"task {task.pk} done, but: {warning} (exit status {EXIT_BASELINE_BROKEN})",
                returncode=EXIT_BASELINE_BROKEN,
            )

    def _say(self, text: str) -> None:
        self.stderr.write(text)

    def _printer(self):
        out = self.stderr

        def show(event: TaskEvent) -> None:
            stage = f"[{event.stage}]" if event.stage else "[task]"
            mark = {"warning": "! ", "error": "✗ "}.get(event.level, "")
            text = _printable(event.message)
            out.write(f"{event.created_at:%H:%M:%S} {stage:13} {mark}{text}")
            out.flush()

        return show

    def _summary(self, task: Task, report: dict) -> None:
        w = self.stdout.write
        w("")
        if warning := baseline_warning(report):
            w(f"! {warning}")
        w(f"task {task.pk}: {task.status} ({task.mode})")
        w(f"report: {Path(task.workspace) / 'report.md'}")
        w(f"        {Path(task.workspace) / 'report.json'}")
        if not report:
            return
        tests = report.get("tests", [])
        verdicts = {
            v: sum(1 for t in tests if t["verdict"] == v) for v in ("accept", "reject", "flag")
        }
        w(
            f"tests: {verdicts['accept']} accepted, {verdicts['reject']} rejected, "
            f"{verdicts['flag']} flagged"
        )
        fmt = lambda v: "n/a" if v is None else f"{v:.1f}%"  # noqa: E731
        cov = report.get("coverage")
        if cov:
            w(f"changed-line coverage: {coverage_line(cov).replace(' → ', ' -> ')}")
        mut = report.get("mutation")
        if mut:
            before, after = figure(mut, "before", "score"), mut["after"]["score"]
            w(
                f"mutation score: {before} -> {fmt(after)} of {mut['tested']} mutants "
                f"({mut['survivors_total']} surviving)"
            )
        elif (report.get("lanes") or {}).get("mutation", {}).get("status"):
            lane = report["lanes"]["mutation"]
            w(
                f"mutation lane: {lane['status']}"
                + (f" — {lane['summary']}" if lane.get("summary") else "")
            )
        if any(lane in (report.get("lanes") or {}) for lane in services.SECURITY_LANES):
            w(f"findings: {findings_line(report)}")
            if (report.get("findings_summary") or {}).get("sarif"):
                w(f"          {Path(task.workspace) / report['findings_summary']['sarif']}")
            for lane in services.SECURITY_LANES:
                entry = report["lanes"].get(lane) or {}
                if entry.get("status") in ("degraded", "failed"):
                    w(f"{lane} lane {entry['status']}: {entry.get('summary') or ''}")
        usage = report.get("usage") or {}
        if task.mode != "offline":
            w(
                f"model usage: {usage.get('calls', 0)} call(s), "
                f"{usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out "
                f"tokens, ${usage.get('cost_usd', 0):.4f}"
            )
        if report.get("partial"):
            w(f"partial result: {report['partial']}")
        for line in delivery_lines(report.get("delivery") or {}):
            w(f"delivery: {line}")
        crit = report.get("criteria", [])
        if crit:
            verified = sum(1 for c in crit if c["status"] == "verified")
            w(f"criteria: {verified} of {len(crit)} verified")
        sys.stdout.flush()
