"""Quality gates from the config: a class of the user's, run like a command check."""

import pytest
from django.conf import settings

from tasks.gates import GateResult, QualityGate
from tasks.models import Task
from tasks.services import task_create, task_set_status


class ReadmeGate(QualityGate):
    """Passes when the project has a README that says how to run it."""

    def validate(self, task) -> GateResult:
        try:
            with open(f"{self.path}/README.md") as handle:
                text = handle.read()
        except OSError as error:
            return GateResult(False, f"no README: {error.strerror}")
        return GateResult("bin/run" in text, f"README has {len(text.splitlines())} lines")


@pytest.mark.django_db(transaction=True)
def test_a_configured_gate_must_pass_before_done(monkeypatch, tmp_path, eager_jobs):
    monkeypatch.setattr(settings.TMUX_ORC, "quality_gates", {"readme": f"{__name__}.ReadmeGate"})
    task = task_create(title="Write the README", checks=["gate:readme"], project_path=str(tmp_path))
    Task.objects.filter(pk=task.pk).update(status="in_progress")
    task.refresh_from_db()

    task_set_status(task=task, status="done")

    task.refresh_from_db()
    assert task.status == "in_progress"
    assert task.check_results[0]["passed"] is False
    assert task.check_results[0]["output"] == "no README: No such file or directory"
    (tmp_path / "README.md").write_text("# App\n\nbin/run\n")
    task_set_status(task=task, status="done")
    task.refresh_from_db()
    assert task.status == "done" and task.check_results[0]["output"] == "README has 3 lines"


@pytest.mark.django_db
def test_an_unknown_gate_is_refused_when_the_task_is_written(monkeypatch):
    from orchestrator.errors import InvalidInput

    monkeypatch.setattr(settings.TMUX_ORC, "quality_gates", {})
    with pytest.raises(InvalidInput, match="checks: unknown gate 'coverage'; configured: none"):
        task_create(title="x", checks=["gate:coverage"])
